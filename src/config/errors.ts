import type { z } from 'zod';

/** Invalid settings or an unreadable config file; the CLI prints the message and exits. */
export class ConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** Keys whose values are never echoed in an error message. */
const SECRET_KEY = /secret|token$/i;

/**
 * Formats validation issues one per line as `path: message (received value)`, hiding the
 * values of secret-looking keys.
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string {
  return issues.map((issue) => formatIssue(issue, input)).join('\n');
}

function formatIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((key) => `${formatPath([...issue.path, key])}: unknown option`)
      .join('\n');
  }
  const received = describeReceived(issue.path, valueAt(input, issue.path));
  return `${path || '(root)'}: ${issue.message} (received ${received})`;
}

/** Formats a path the way it is written in JavaScript: `clients[0].clientId`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text === '' ? String(key) : `.${String(key)}`;
  }
  return text;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describeReceived(path: readonly PropertyKey[], value: unknown): string {
  const last = path.at(-1);
  // Within `clients`, only a client id is shown: a client written in the wrong shape, such as
  // a list `[id, secret]`, would otherwise echo its secret.
  const insideClients = path[0] === 'clients' && last !== 'clientId';
  const secretKey = typeof last === 'string' && SECRET_KEY.test(last);
  if ((insideClients || secretKey) && value !== undefined) {
    const type = typeOf(value);
    return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}, value hidden`;
  }
  if (value === undefined) return 'nothing';
  // Secrets nested in the value, as in a `clients` mapping written where a list belongs, are
  // hidden as well.
  const json = JSON.stringify(value, (key, nested: unknown) =>
    SECRET_KEY.test(key) ? '[hidden]' : nested,
  );
  if (json === undefined) return typeOf(value);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
