import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { type Rule, type RuleInput, ruleSchema } from '../rules/rule.js';
import type { ExchangeCounts } from './counters.js';
import { ControlInputError, parseControlInput } from './input.js';

/** Latest time the clock may show, 9999-12-31T23:59:59.999Z, so ISO strings keep 4 digits. */
const MAX_TIME = 253_402_300_799_999;

/** A rule as the control API lists it: the rule with how often it has fired. */
export type ListedRule = Rule & { fired: number };

/** The rules of the token endpoint, checked in order. */
export interface RulesControl {
  /**
   * Validates and stores a rule, at the end or at `position` (0 is first). A rule without `id`
   * gets `rule-N`, numbered only when it is stored, so a rejected rule uses up no number.
   * @throws ControlInputError when the rule is invalid, its id is taken, the position is out of
   * range, or the store is full.
   */
  add(rule: RuleInput, position?: number): ListedRule;
  /**
   * Replaces the rule with `id`, keeping its position and clearing its fired count. Returns the
   * stored rule, or `undefined` when no rule has that id.
   * @throws ControlInputError when the rule is invalid or names a different id.
   */
  replace(id: string, rule: RuleInput): ListedRule | undefined;
  /** Removes the rule with `id`; returns false when there is none. */
  delete(id: string): boolean;
  get(id: string): ListedRule | undefined;
  list(): ListedRule[];
  /** Returns to the configured rules, with their fired counts cleared. */
  reset(): void;
}

/** The server's clock: issued `iat`, `exp` and token validation all read it. */
export interface ClockControl {
  /** Stops the clock at `time`, or at the current time when absent. */
  freeze(time?: Date | number | string): void;
  /** Moves the clock by `seconds`, which may be negative or fractional, frozen or not. */
  advance(seconds: number): void;
  /** Lets the clock run again from the server's base clock, dropping any offset. */
  release(): void;
  now(): Date;
  readonly frozen: boolean;
}

/** The control operations of one server, shared by `/admin` and the programmatic API. */
export interface ControlApi {
  readonly rules: RulesControl;
  readonly clock: ClockControl;
  counters(): ExchangeCounts;
  clearCounters(): void;
  /**
   * Restores the configured rules, clears the counters and the request log, and releases the
   * clock. Returns how many request log entries were removed.
   */
  reset(): { removedLogEntries: number };
}

/** Creates the control operations over a server's shared state. */
export function createControlApi(server: ServerContext): ControlApi {
  const rules = rulesControl(server);
  const clock = clockControl(server);
  return {
    rules,
    clock,
    counters: () => server.counters.snapshot(),
    clearCounters: () => server.counters.clear(),
    reset() {
      rules.reset();
      server.counters.clear();
      clock.release();
      return { removedLogEntries: server.requestLog.clear() };
    },
  };
}

function listed(rule: Rule, fired: number): ListedRule {
  return { ...rule, fired };
}

function rulesControl(server: ServerContext): RulesControl {
  const store = server.rules;
  const get = (id: string): ListedRule | undefined => {
    const state = store.get(id);
    return state && listed(state.rule, state.fired);
  };
  return {
    add(input, position) {
      const parsed = parseControlInput(ruleSchema, input);
      const count = store.list().length;
      if (position !== undefined && !(Number.isInteger(position) && position >= 0)) {
        throw new ControlInputError('position: must be a whole number from 0');
      }
      if (position !== undefined && position > count) {
        throw new ControlInputError(`position: must be at most ${count}, the number of rules`);
      }
      try {
        return listed(store.add(parsed, position), 0);
      } catch (error) {
        if (error instanceof RangeError) throw new ControlInputError(error.message);
        throw error;
      }
    },
    replace(id, input) {
      const parsed = parseControlInput(ruleSchema, input);
      if (parsed.id !== undefined && parsed.id !== id) {
        throw new ControlInputError('id: must be absent or equal to the id of the replaced rule');
      }
      if (!store.replace(id, { ...parsed, id })) return undefined;
      return get(id);
    },
    delete: (id) => store.delete(id),
    get,
    list: () => store.list().map((state) => listed(state.rule, state.fired)),
    reset: () => store.reset(),
  };
}

const isoTimeSchema = z.iso.datetime({ offset: true });

function clockControl(server: ServerContext): ClockControl {
  const clock = server.clock;
  return {
    freeze(time) {
      if (time === undefined) {
        clock.freeze();
        return;
      }
      clock.freeze(toMilliseconds(time));
    },
    advance(seconds) {
      if (!Number.isFinite(seconds))
        throw new ControlInputError('seconds: must be a finite number');
      const milliseconds = Math.round(seconds * 1000);
      const target = clock.now() + milliseconds;
      if (target < 0 || target > MAX_TIME) {
        throw new ControlInputError(
          'seconds: would move the clock outside 1970-01-01 to 9999-12-31',
        );
      }
      clock.advance(milliseconds);
    },
    release: () => clock.release(),
    now: () => new Date(clock.now()),
    get frozen() {
      return clock.frozen;
    },
  };
}

/**
 * Converts a time given as a date, milliseconds since the epoch or an ISO 8601 string with a
 * time zone offset.
 * @throws ControlInputError when the time is invalid or outside 1970-01-01 to 9999-12-31.
 */
function toMilliseconds(time: Date | number | string): number {
  let milliseconds: number;
  if (typeof time === 'string') {
    if (!isoTimeSchema.safeParse(time).success) {
      throw new ControlInputError(
        'time: must be an ISO 8601 date and time with an offset, such as 2026-01-01T00:00:00Z',
      );
    }
    milliseconds = Date.parse(time);
  } else {
    milliseconds = typeof time === 'number' ? time : time.getTime();
  }
  if (!Number.isFinite(milliseconds) || milliseconds < 0 || milliseconds > MAX_TIME) {
    throw new ControlInputError('time: must be between 1970-01-01 and 9999-12-31');
  }
  return Math.round(milliseconds);
}
