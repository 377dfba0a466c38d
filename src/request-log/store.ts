import type { RequestLogEntry } from './entry.js';

/** Criteria for {@link RequestLog.query}; every given criterion must match. */
export interface RequestLogQuery {
  clientId?: string;
  /** Matches entries that name this value among their audiences. */
  audience?: string;
  /** Matches the subject token's `sub` claim. */
  subject?: string;
  /** `success`, `error`, or one OAuth error code such as `invalid_client`. */
  outcome?: string;
  /** Matches entries at or after this time, in milliseconds since the epoch. */
  since?: number;
  /** Keeps only the newest matches, at most this many. */
  limit?: number;
}

export interface RequestLogPage {
  /** Matching entries, oldest first. */
  entries: RequestLogEntry[];
  /** Entries now held, matching or not. */
  size: number;
  capacity: number;
  /** Entries evicted because the log was full, since it was created or last cleared. */
  dropped: number;
}

/** An entry, or a function that builds it the first time the log is read. */
export type PendingEntry = RequestLogEntry | (() => RequestLogEntry);

/** The request log: a ring buffer of entries that evicts the oldest when it is full. */
export class RequestLog {
  readonly capacity: number;
  readonly #entries: (PendingEntry | undefined)[];
  #start = 0;
  #size = 0;
  #dropped = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`request log capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
    this.#entries = new Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Entries evicted since the log was created or last cleared. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Adds an entry. A function is called, once, when the entry is first read, so an entry that is
   * evicted unread costs only its capture. If the function throws, the entry is left out.
   */
  add(entry: PendingEntry): void {
    if (this.#size < this.capacity) {
      this.#entries[(this.#start + this.#size) % this.capacity] = entry;
      this.#size += 1;
      return;
    }
    this.#entries[this.#start] = entry;
    this.#start = (this.#start + 1) % this.capacity;
    this.#dropped += 1;
  }

  /** Returns every entry held, oldest first. */
  entries(): RequestLogEntry[] {
    const result: RequestLogEntry[] = [];
    for (let i = 0; i < this.#size; i += 1) {
      const slot = (this.#start + i) % this.capacity;
      let entry = this.#entries[slot];
      if (typeof entry === 'function') {
        // An entry that cannot be built is left out rather than failing every later read.
        try {
          entry = entry();
        } catch {
          entry = undefined;
        }
        this.#entries[slot] = entry;
      }
      if (entry) result.push(entry);
    }
    return result;
  }

  query(criteria: RequestLogQuery = {}): RequestLogPage {
    let entries = this.entries().filter((entry) => matches(entry, criteria));
    if (criteria.limit !== undefined && entries.length > criteria.limit) {
      entries = entries.slice(entries.length - criteria.limit);
    }
    return { entries, size: this.#size, capacity: this.capacity, dropped: this.#dropped };
  }

  /** Removes every entry and resets the dropped count; returns how many entries were removed. */
  clear(): number {
    const removed = this.#size;
    this.#entries.fill(undefined);
    this.#start = 0;
    this.#size = 0;
    this.#dropped = 0;
    return removed;
  }
}

function matches(entry: RequestLogEntry, criteria: RequestLogQuery): boolean {
  if (criteria.clientId !== undefined && entry.client.id !== criteria.clientId) return false;
  if (criteria.audience !== undefined && !entry.audiences.includes(criteria.audience)) {
    return false;
  }
  if (criteria.subject !== undefined && entry.subject !== criteria.subject) return false;
  if (criteria.since !== undefined && Date.parse(entry.time) < criteria.since) return false;
  if (criteria.outcome !== undefined && !matchesOutcome(entry, criteria.outcome)) return false;
  return true;
}

function matchesOutcome(entry: RequestLogEntry, outcome: string): boolean {
  const error = entry.outcome.error;
  // A request that a rule sent a raw 5xx for, or that got no response (status 0), has no OAuth
  // error code but did not succeed either.
  const { status } = entry.outcome;
  const succeeded = error === undefined && status >= 200 && status < 400;
  if (outcome === 'success') return succeeded;
  if (outcome === 'error') return !succeeded;
  return error === outcome;
}
