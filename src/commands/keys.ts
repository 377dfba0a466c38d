import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../config/errors.js';
import { SIGNING_ALGORITHMS } from '../config/schema.js';
import { generatePrivateJwk, KeyStore, type SigningAlgorithm } from '../keys/keystore.js';

/** Permissions of a written key file: read and write for its owner only. */
const KEY_FILE_MODE = 0o600;

interface GenerateOptions {
  alg: SigningAlgorithm;
  kid?: string;
  out?: string;
  addTo?: string;
}

/** Builds the `keys` subcommand, which writes private JWKS files. */
export function keysCommand(): Command {
  return new Command('keys')
    .description('manage signing keys')
    .exitOverride()
    .addCommand(generateCommand());
}

function generateCommand(): Command {
  return new Command('generate')
    .description(
      'generate a signing key and write it as a private JWKS, for --keys-file or keys.file',
    )
    .addOption(
      new Option('--alg <algorithm>', 'signing algorithm')
        .choices(SIGNING_ALGORITHMS)
        .default('RS256'),
    )
    .addOption(
      new Option(
        '--kid <id>',
        'key id (default: the first 16 characters of the RFC 7638 thumbprint)',
      ).argParser(parseKeyId),
    )
    .addOption(
      new Option('--out <file>', 'write a new file, readable by its owner only').conflicts('addTo'),
    )
    .addOption(
      new Option(
        '--add-to <file>',
        'add the key to an existing private JWKS file, after its other keys',
      ),
    )
    .exitOverride()
    .action((options: GenerateOptions) => generate(options));
}

function parseKeyId(value: string): string {
  if (value === '') throw new InvalidArgumentError('must not be empty.');
  return value;
}

/**
 * Generates one key and writes it to standard output, to a new file, or into an existing file.
 * @throws ConfigError when a file cannot be read or written, or the key cannot be added.
 */
async function generate(options: GenerateOptions): Promise<void> {
  const jwk = await generatePrivateJwk(options.alg, options.kid);
  if (options.addTo !== undefined) {
    await addKey(options.addTo, jwk);
    // The first key signs unless activeKeyId names another, so an added key is published in the
    // JWKS before it signs, as a rotation needs.
    process.stdout.write(
      `added key ${jwk.kid} (${jwk.alg}) to ${options.addTo}. ` +
        'It signs once keys.activeKeyId names it.\n',
    );
    return;
  }

  const text = formatJwks({ keys: [jwk] });
  if (options.out === undefined) {
    process.stdout.write(text);
    return;
  }
  await writeNewKeyFile(options.out, text);
  process.stdout.write(`wrote key ${jwk.kid} (${jwk.alg}) to ${options.out}\n`);
}

/**
 * Appends a key to a private JWKS file, which must load as a key file does. The file is replaced
 * through a temporary file, so an interrupted write leaves the old file whole.
 */
async function addKey(path: string, jwk: Record<string, unknown>): Promise<void> {
  const store = await KeyStore.fromFile(path);
  if (typeof jwk.kid === 'string' && store.find(jwk.kid) !== undefined) {
    throw new ConfigError(`key file ${path} already has a key with kid ${jwk.kid}`);
  }
  // KeyStore.fromFile has checked that the file contains a JWKS object with a "keys" array.
  const jwks = JSON.parse(await readFile(path, 'utf8')) as { keys: unknown[] };
  jwks.keys.push(jwk);

  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeNewKeyFile(temporary, formatJwks(jwks));
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new ConfigError(`cannot replace key file ${path}: ${reasonOf(error)}`, { cause: error });
  }
}

/**
 * Creates a key file with mode 0600 and never overwrites an existing file.
 * @throws ConfigError when the file exists or cannot be written.
 */
async function writeNewKeyFile(path: string, text: string): Promise<void> {
  try {
    await writeFile(path, text, { mode: KEY_FILE_MODE, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ConfigError(
        `${path} already exists. Use --add-to to add a key to it, or choose another --out file`,
        {
          cause: error,
        },
      );
    }
    throw new ConfigError(`cannot write key file ${path}: ${reasonOf(error)}`, { cause: error });
  }
}

function formatJwks(jwks: object): string {
  return `${JSON.stringify(jwks, null, 2)}\n`;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
