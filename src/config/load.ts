import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { ConfigError, formatIssues } from './errors.js';
import { type Config, type ConfigInput, configSchema } from './schema.js';

/**
 * Validates settings and applies defaults.
 * @throws ConfigError naming each invalid option by its full path.
 */
export function resolveConfig(input: unknown): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    throw new ConfigError(`invalid configuration:\n${formatIssues(result.error.issues, input)}`);
  }
  return Object.freeze(result.data);
}

/**
 * Reads a YAML or JSON config file. A `.json` file is parsed as JSON; any other extension as
 * YAML, which also reads JSON.
 * @throws ConfigError when the file cannot be read or parsed, or is not a mapping.
 */
export async function readConfigFile(path: string): Promise<ConfigInput> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`cannot read config file ${path}: ${reason}`, { cause: error });
  }

  // The YAML parser takes about 45 ms to load, so it is imported only when a file needs it.
  const yaml = extname(path).toLowerCase() === '.json' ? undefined : await import('yaml');
  let value: unknown;
  try {
    value = yaml ? yaml.parse(text, { logLevel: 'error' }) : JSON.parse(text);
  } catch (error) {
    const description = describeSyntaxError(error, text, yaml?.YAMLParseError);
    throw new ConfigError(`cannot parse config file ${path}: ${description}`, { cause: error });
  }

  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config file ${path} must contain a mapping of options`);
  }
  return value as ConfigInput;
}

/**
 * Describes a YAML or JSON syntax error by its position only. The parsers' own messages quote
 * the offending line, which may hold a client secret or the admin token.
 */
function describeSyntaxError(
  error: unknown,
  text: string,
  yamlErrorClass: typeof import('yaml').YAMLParseError | undefined,
): string {
  if (yamlErrorClass !== undefined && error instanceof yamlErrorClass) {
    const position = error.linePos?.[0];
    const where = position ? ` at line ${position.line}, column ${position.col}` : '';
    return `invalid YAML (${error.code})${where}`;
  }
  if (!(error instanceof SyntaxError)) {
    // Such as the YAML parser's limit on alias expansion; these messages quote no input.
    return error instanceof Error ? (error.message.split('\n', 1)[0] ?? 'invalid') : 'invalid';
  }
  const offset = /at position (\d+)/.exec(error.message)?.[1];
  if (offset === undefined) return 'invalid JSON';
  const before = text.slice(0, Number(offset)).split('\n');
  const column = (before.at(-1)?.length ?? 0) + 1;
  return `invalid JSON at line ${before.length}, column ${column}`;
}
