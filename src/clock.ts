/** Source of the current time, so tests can freeze it. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Returns a clock that always reads `time`, given as a date or milliseconds since the epoch. */
export function frozenClock(time: Date | number): Clock {
  const milliseconds = typeof time === 'number' ? time : time.getTime();
  return { now: () => milliseconds };
}

/**
 * A clock the control API can freeze, advance and release. It reads `base` while running, and
 * a fixed time while frozen. Advancing a running clock adds an offset to `base`.
 */
export class ControllableClock implements Clock {
  readonly #base: Clock;
  #frozenAt: number | undefined;
  #offset = 0;

  constructor(base: Clock) {
    this.#base = base;
  }

  now(): number {
    return this.#frozenAt ?? this.#base.now() + this.#offset;
  }

  /** Stops the clock at `time` (milliseconds since the epoch), or at the current time. */
  freeze(time?: number): void {
    this.#frozenAt = time ?? this.now();
  }

  /** Moves the clock forward by `milliseconds`, frozen or not. */
  advance(milliseconds: number): void {
    if (this.#frozenAt !== undefined) this.#frozenAt += milliseconds;
    else this.#offset += milliseconds;
  }

  /** Lets the clock run again from the base clock, dropping any offset. */
  release(): void {
    this.#frozenAt = undefined;
    this.#offset = 0;
  }

  get frozen(): boolean {
    return this.#frozenAt !== undefined;
  }
}
