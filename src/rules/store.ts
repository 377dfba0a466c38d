import type { Rule, RuleInput } from './rule.js';
import { ruleSchema } from './rule.js';

/** A rule with how often it has fired. */
export interface RuleState {
  rule: Rule;
  fired: number;
}

/** A validated rule, which may still lack its id. */
export type RuleWithOptionalId = Omit<Rule, 'id'> & { id?: string };

/** Most rules held at once; each is small, so this bounds memory. */
export const MAX_RULES = 1000;

/**
 * The rules in force, checked in order. Rules come from the config file and from the control
 * API; `reset` returns to the configured ones.
 */
export class RuleStore {
  readonly #configured: readonly Rule[];
  #rules: RuleState[] = [];
  #nextId = 1;

  constructor(configured: readonly RuleInput[]) {
    const parsed = configured.map((input) => ruleSchema.parse(input));
    const named = new Set(parsed.flatMap((rule) => (rule.id === undefined ? [] : [rule.id])));
    this.#configured = parsed.map((rule) => {
      if (rule.id !== undefined) return rule as Rule;
      const withId = this.#withId(rule, named);
      named.add(withId.id);
      return withId;
    });
    this.reset();
  }

  list(): RuleState[] {
    return this.#rules.map((state) => ({ rule: state.rule, fired: state.fired }));
  }

  get(id: string): RuleState | undefined {
    return this.#rules.find((state) => state.rule.id === id);
  }

  /**
   * Appends a validated rule, or inserts it at `position`, which the caller checks. A rule
   * without `id` gets the next `rule-N` only once every check has passed, so a rejected rule
   * uses up no number.
   * @throws RangeError when the id is taken or the store is full.
   */
  add(parsed: RuleWithOptionalId, position?: number): Rule {
    if (parsed.id !== undefined && this.get(parsed.id)) {
      throw new RangeError(`a rule with id ${parsed.id} already exists`);
    }
    if (this.#rules.length >= MAX_RULES)
      throw new RangeError(`at most ${MAX_RULES} rules are held`);
    const rule = this.#withId(parsed);
    const state = { rule, fired: 0 };
    if (position === undefined) this.#rules.push(state);
    else this.#rules.splice(position, 0, state);
    return rule;
  }

  /** Replaces the rule with `id`, keeping its position; returns false when there is none. */
  replace(id: string, rule: Rule): boolean {
    const index = this.#rules.findIndex((state) => state.rule.id === id);
    if (index === -1) return false;
    this.#rules[index] = { rule: { ...rule, id }, fired: 0 };
    return true;
  }

  delete(id: string): boolean {
    const before = this.#rules.length;
    this.#rules = this.#rules.filter((state) => state.rule.id !== id);
    return this.#rules.length < before;
  }

  /** Returns to the configured rules, with their counts cleared. */
  reset(): void {
    this.#rules = this.#configured.map((rule) => ({ rule, fired: 0 }));
  }

  /**
   * Returns the first rule that matches and may still fire, and counts it as fired.
   * `matches` decides whether a rule's conditions hold for the current request.
   */
  fire(matches: (rule: Rule) => boolean): Rule | undefined {
    for (const state of this.#rules) {
      if (state.rule.times !== undefined && state.fired >= state.rule.times) continue;
      if (!matches(state.rule)) continue;
      state.fired += 1;
      return state.rule;
    }
    return undefined;
  }

  /** Gives a parsed rule its id: the one it names, or the next free `rule-N`. */
  #withId(parsed: RuleWithOptionalId, taken?: ReadonlySet<string>): Rule {
    if (parsed.id !== undefined) return parsed as Rule;
    const isTaken = (id: string) =>
      taken?.has(id) ||
      this.get(id) !== undefined ||
      (this.#configured ?? []).some((rule) => rule.id === id);
    let id = `rule-${this.#nextId++}`;
    while (isTaken(id)) id = `rule-${this.#nextId++}`;
    return { ...parsed, id };
  }
}
