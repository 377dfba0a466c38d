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
