import type { z } from 'zod';
import { formatPath } from '../config/errors.js';

/** Invalid input to the control API, such as a rule that fails validation. */
export class ControlInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlInputError';
  }
}

/** Maximum number of problems named in one error message, so that the message stays short. */
const MAX_PROBLEMS = 5;

/**
 * Validates `input` against `schema`.
 * @throws ControlInputError naming the path of each problem, such as `action.type: ...`.
 */
export function parseControlInput<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
): z.output<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ControlInputError(describeIssues(result.error.issues, input));
}

/**
 * Describes validation issues as `path: problem` joined by `; `. Input values are not echoed,
 * because a rule or body may contain a token. Unknown field names are, cut to 40 characters.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string {
  const problems = issues.flatMap((issue) => describeIssue(issue, input));
  const shown = problems.slice(0, MAX_PROBLEMS);
  const more =
    problems.length > shown.length ? ` (and ${problems.length - shown.length} more)` : '';
  return `${shown.join('; ')}${more}`;
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${name([...issue.path, truncateKey(key)])}: unknown field`);
  }
  return [`${name(issue.path)}: ${problemOf(issue, input)}`];
}

function problemOf(issue: z.core.$ZodIssue, input: unknown): string {
  switch (issue.code) {
    case 'invalid_union': {
      // A discriminated union reports the accepted values of its discriminator in `options`.
      const options = (issue as { options?: unknown }).options;
      if (Array.isArray(options)) return `must be one of ${options.map(String).join(', ')}`;
      return 'has none of the accepted shapes';
    }
    case 'invalid_type':
      if (valueAt(input, issue.path) === undefined) return 'is required';
      return `must be ${article(issue.expected)}`;
    case 'invalid_format':
      // Zod's own regex message prints the pattern, so only a message set in the schema is kept.
      if (issue.format === 'regex' && issue.message.startsWith('Invalid string')) {
        return 'contains characters that are not allowed';
      }
      if (issue.format === 'datetime') {
        return 'must be an ISO 8601 date and time with an offset, such as 2026-01-01T00:00:00Z';
      }
      return issue.message;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
      return issue.origin === 'number'
        ? `must be at least ${String(issue.minimum)}`
        : `must have at least ${String(issue.minimum)} ${unitOf(issue.origin)}`;
    case 'too_big':
      return issue.origin === 'number'
        ? `must be at most ${String(issue.maximum)}`
        : `must have at most ${String(issue.maximum)} ${unitOf(issue.origin)}`;
    default:
      return issue.message;
  }
}

function name(path: readonly PropertyKey[]): string {
  return formatPath(path) || 'body';
}

function truncateKey(key: string): string {
  return key.length > 40 ? `${key.slice(0, 37)}...` : key;
}

function article(type: string): string {
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

function unitOf(origin: string): string {
  if (origin === 'string') return 'characters';
  if (origin === 'array' || origin === 'set') return 'items';
  return 'entries';
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
