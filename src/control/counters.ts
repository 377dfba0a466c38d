import type { CountedExchange } from '../request-log/record.js';

/** Maximum number of distinct keys in each counter map. Beyond it, the oldest key is dropped. */
export const MAX_COUNTER_KEYS = 10_000;

/** Successful token responses, counted since the start or the last clear. */
export interface ExchangeCounts {
  /** Successful token responses of every grant type. */
  total: number;
  /** Count by authenticated `client_id`. */
  byClient: Record<string, number>;
  /** Count by the `sub` claim of a JWT subject token, read without verification. */
  bySubject: Record<string, number>;
  /** Count by `audience` value; a request naming two audiences counts once for each. */
  byAudience: Record<string, number>;
  /** Count by `resource` value; a request naming two resources counts once for each. */
  byResource: Record<string, number>;
  /** Keys dropped from the maps above because a map held {@link MAX_COUNTER_KEYS} keys. */
  droppedKeys: number;
}

/** A bounded map of counts that drops the key it counted first when it is full. */
class BoundedCounter {
  readonly #counts = new Map<string, number>();
  readonly #maxKeys: number;

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  /** Adds one to `key` and returns how many keys were dropped to make room (0 or 1). */
  increment(key: string): number {
    const count = this.#counts.get(key);
    if (count !== undefined) {
      this.#counts.set(key, count + 1);
      return 0;
    }
    let dropped = 0;
    if (this.#counts.size >= this.#maxKeys) {
      const oldest = this.#counts.keys().next().value;
      if (oldest !== undefined) this.#counts.delete(oldest);
      dropped = 1;
    }
    this.#counts.set(key, 1);
    return dropped;
  }

  toObject(): Record<string, number> {
    // A null prototype keeps keys such as `__proto__` from touching Object.prototype.
    const result: Record<string, number> = Object.create(null);
    for (const [key, count] of this.#counts) result[key] = count;
    return result;
  }

  clear(): void {
    this.#counts.clear();
  }
}

/**
 * Counts successful token responses by client, subject and target, so that a test can check
 * whether a gateway reused a cached token instead of exchanging again.
 */
export class ExchangeCounters {
  readonly #byClient: BoundedCounter;
  readonly #bySubject: BoundedCounter;
  readonly #byAudience: BoundedCounter;
  readonly #byResource: BoundedCounter;
  #total = 0;
  #droppedKeys = 0;

  constructor(maxKeys = MAX_COUNTER_KEYS) {
    this.#byClient = new BoundedCounter(maxKeys);
    this.#bySubject = new BoundedCounter(maxKeys);
    this.#byAudience = new BoundedCounter(maxKeys);
    this.#byResource = new BoundedCounter(maxKeys);
  }

  /** Counts one successful token response. */
  record(exchange: CountedExchange): void {
    this.#total += 1;
    if (exchange.clientId !== null) {
      this.#droppedKeys += this.#byClient.increment(exchange.clientId);
    }
    if (exchange.subject !== null) {
      this.#droppedKeys += this.#bySubject.increment(exchange.subject);
    }
    for (const audience of new Set(exchange.audiences)) {
      this.#droppedKeys += this.#byAudience.increment(audience);
    }
    for (const resource of new Set(exchange.resources)) {
      this.#droppedKeys += this.#byResource.increment(resource);
    }
  }

  snapshot(): ExchangeCounts {
    return {
      total: this.#total,
      byClient: this.#byClient.toObject(),
      bySubject: this.#bySubject.toObject(),
      byAudience: this.#byAudience.toObject(),
      byResource: this.#byResource.toObject(),
      droppedKeys: this.#droppedKeys,
    };
  }

  clear(): void {
    this.#total = 0;
    this.#droppedKeys = 0;
    this.#byClient.clear();
    this.#bySubject.clear();
    this.#byAudience.clear();
    this.#byResource.clear();
  }
}
