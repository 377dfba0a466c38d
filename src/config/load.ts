import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
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

  let value: unknown;
  try {
    value = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`cannot parse config file ${path}: ${reason}`, { cause: error });
  }

  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config file ${path} must contain a mapping of options`);
  }
  return value as ConfigInput;
}
