#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { keysCommand } from './commands/keys.js';
import { mintCommand } from './commands/mint.js';
import { ConfigError } from './config/errors.js';
import { readConfigFile } from './config/load.js';
import {
  LOG_LEVELS,
  SIGNING_ALGORITHMS,
  TOKEN_FORMATS,
  VALIDATION_MODES,
} from './config/schema.js';
import { createServer, type MockTokenExchangeServer, type ServerOptions } from './server.js';

const packageJson = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { name: string; version: string };

/** Exit status for invalid options or configuration. */
const EXIT_CONFIG = 2;

interface CliOptions {
  port?: number;
  host?: string;
  config?: string;
  tokenTtl?: number;
  logSize?: number;
  logLevel?: string;
  adminToken?: string;
  unsafeLogTokens?: boolean;
  tokenFormat?: string;
  issuer?: string;
  keysFile?: string;
  signingAlg?: string;
  trustProxy?: boolean;
  subjectValidation?: string;
}

/** Parses a whole number; an empty value, as from `MTES_PORT=`, counts as unset. */
function parseWholeNumber(value: string): number | undefined {
  if (value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number.');
  return Number(value);
}

/**
 * Builds a parser that accepts one of `choices`. An empty value, as from `MTES_TOKEN_FORMAT=`,
 * counts as unset, which commander's own `choices()` would reject.
 */
function parseChoice(choices: readonly string[]) {
  return (value: string): string | undefined => {
    if (value === '') return undefined;
    if (!choices.includes(value)) {
      throw new InvalidArgumentError(`must be one of ${choices.join(', ')}.`);
    }
    return value;
  };
}

function buildProgram(): Command {
  return new Command(packageJson.name)
    .description('Mock OAuth 2.0 authorization server for RFC 8693 token exchange tests')
    .version(packageJson.version, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    .addOption(
      new Option('-p, --port <number>', 'TCP port to listen on, 0 for a free one (default: 9999)')
        .env('MTES_PORT')
        .argParser(parseWholeNumber),
    )
    .addOption(
      new Option('-H, --host <address>', 'address to listen on (default: 127.0.0.1)').env(
        'MTES_HOST',
      ),
    )
    .addOption(
      new Option('-c, --config <file>', 'YAML or JSON config file; options given here win').env(
        'MTES_CONFIG',
      ),
    )
    .addOption(
      new Option('--token-ttl <seconds>', 'lifetime of issued tokens in seconds (default: 3600)')
        .env('MTES_TOKEN_TTL')
        .argParser(parseWholeNumber),
    )
    .addOption(
      new Option('--log-size <entries>', 'capacity of the request log (default: 1000)')
        .env('MTES_LOG_SIZE')
        .argParser(parseWholeNumber),
    )
    .addOption(
      new Option(
        '--log-level <level>',
        `server log level: ${LOG_LEVELS.join(', ')} (default: info)`,
      )
        .env('MTES_LOG_LEVEL')
        .argParser(parseChoice(LOG_LEVELS)),
    )
    .addOption(
      new Option(
        '--admin-token <token>',
        'Bearer token required on /log and every /admin route',
      ).env('MTES_ADMIN_TOKEN'),
    )
    .addOption(
      new Option(
        '--unsafe-log-tokens',
        'store subject, actor and issued tokens in clear in /log (env: MTES_UNSAFE_LOG_TOKENS=true)',
      ),
    )
    .addOption(
      new Option(
        '--token-format <format>',
        `format of issued access tokens: ${TOKEN_FORMATS.join(' or ')} (default: opaque)`,
      )
        .env('MTES_TOKEN_FORMAT')
        .argParser(parseChoice(TOKEN_FORMATS)),
    )
    .addOption(
      new Option(
        '--issuer <url>',
        'issuer identifier, the iss of issued JWTs (default: the origin of each request)',
      ).env('MTES_ISSUER'),
    )
    .addOption(
      new Option('--keys-file <file>', 'private JWKS file of the signing keys').env(
        'MTES_KEYS_FILE',
      ),
    )
    .addOption(
      new Option(
        '--signing-alg <algorithm>',
        `algorithm of the key generated without --keys-file: ${SIGNING_ALGORITHMS.join(', ')} (default: RS256)`,
      )
        .env('MTES_SIGNING_ALG')
        .argParser(parseChoice(SIGNING_ALGORITHMS)),
    )
    .addOption(
      new Option(
        '--trust-proxy',
        'derive the issuer from X-Forwarded-Proto and X-Forwarded-Host (env: MTES_TRUST_PROXY=true)',
      ),
    )
    .addOption(
      new Option(
        '--subject-validation <mode>',
        `how subject and actor tokens are checked: ${VALIDATION_MODES.join(', ')} (default: none)`,
      )
        .env('MTES_SUBJECT_VALIDATION')
        .argParser(parseChoice(VALIDATION_MODES)),
    )
    .exitOverride();
}

const TRUE_WORDS = ['1', 'true', 'yes', 'on'];
const FALSE_WORDS = ['', '0', 'false', 'no', 'off'];

/**
 * Reads a boolean environment variable; commander would switch a flag on for any value,
 * `false` included.
 * @throws ConfigError when the value is not a recognised true or false word.
 */
function readBooleanEnv(name: string): boolean | undefined {
  const value = process.env[name];
  if (value === undefined) return undefined;
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw new ConfigError(
    `${name} must be one of ${[...TRUE_WORDS, ...FALSE_WORDS.slice(1)].join(', ')} (received ${JSON.stringify(value)})`,
  );
}

/** Merges the config file with command-line and environment options, which take precedence. */
async function loadOptions(options: CliOptions): Promise<ServerOptions> {
  const unsafeLogTokens = options.unsafeLogTokens ?? readBooleanEnv('MTES_UNSAFE_LOG_TOKENS');
  const fromFile = options.config === undefined ? {} : await readConfigFile(options.config);
  const merged: ServerOptions = { ...fromFile };
  if (options.port !== undefined) merged.port = options.port;
  if (options.host !== undefined) merged.host = options.host;
  if (options.tokenTtl !== undefined) merged.tokenTtl = options.tokenTtl;
  if (options.logLevel !== undefined)
    merged.logLevel = options.logLevel as ServerOptions['logLevel'];
  if (options.adminToken !== undefined) merged.adminToken = options.adminToken;
  if (options.logSize !== undefined || unsafeLogTokens !== undefined) {
    const requestLog = isRecord(fromFile.requestLog) ? { ...fromFile.requestLog } : {};
    if (options.logSize !== undefined) requestLog.maxEntries = options.logSize;
    if (unsafeLogTokens !== undefined) requestLog.unsafeIncludeTokens = unsafeLogTokens;
    merged.requestLog = requestLog;
  }
  mergeSigningOptions(merged, options);
  if (options.subjectValidation !== undefined) {
    const subjectTokens = isRecord(fromFile.subjectTokens) ? { ...fromFile.subjectTokens } : {};
    subjectTokens.validation = options.subjectValidation as (typeof VALIDATION_MODES)[number];
    merged.subjectTokens = subjectTokens;
  }
  return merged;
}

/** Applies the options for issued JWTs and the issuer over the config file's settings. */
function mergeSigningOptions(merged: ServerOptions, options: CliOptions): void {
  const trustProxy = options.trustProxy ?? readBooleanEnv('MTES_TRUST_PROXY');
  if (options.tokenFormat !== undefined) {
    merged.tokenFormat = options.tokenFormat as ServerOptions['tokenFormat'];
  }
  if (options.issuer !== undefined) merged.issuer = options.issuer;
  if (trustProxy !== undefined) merged.trustProxy = trustProxy;
  if (options.keysFile !== undefined || options.signingAlg !== undefined) {
    const keys = isRecord(merged.keys) ? { ...merged.keys } : {};
    if (options.keysFile !== undefined) keys.file = options.keysFile;
    if (options.signingAlg !== undefined) {
      keys.algorithm = options.signingAlg as (typeof SIGNING_ALGORITHMS)[number];
    }
    merged.keys = keys;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function printBanner(server: MockTokenExchangeServer): void {
  const lines = [`${packageJson.name} ${packageJson.version} listening on ${server.url}`];
  for (const endpoint of server.endpoints) {
    lines.push(
      `  ${endpoint.method.padEnd(6)} ${server.url}${endpoint.path}  ${endpoint.description}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Closes the server on SIGINT or SIGTERM; a second signal exits at once. */
function handleSignals(server: MockTokenExchangeServer): void {
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) {
      server.app.log.warn({ signal }, 'second signal received, exiting without waiting');
      process.exit(1);
    }
    closing = true;
    server.app.log.info({ signal }, 'shutting down, waiting for requests in flight');
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        server.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

/** Starts the server with the root command's options; the default action. */
async function serve(program: Command): Promise<void> {
  const options = program.opts<CliOptions>();
  // An environment variable set to the empty string counts as unset.
  for (const [key, value] of Object.entries(options)) {
    if (value === '' && program.getOptionValueSource(key) === 'env') {
      delete options[key as keyof CliOptions];
    }
  }

  const server = createServer(await loadOptions(options));
  try {
    await server.listen();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const { host, port } = server.config;
    if (code === 'EADDRINUSE') {
      process.stderr.write(
        `error: port ${port} on ${host} is already in use; choose another with --port\n`,
      );
    } else {
      process.stderr.write(
        `error: cannot listen on ${host}:${port}: ${(error as Error).message}\n`,
      );
    }
    process.exit(1);
  }
  handleSignals(server);
  printBanner(server);
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.action(() => serve(program));
  // The server's options count only before a subcommand, so that `mint --keys-file` and
  // `mint --issuer` reach the subcommand instead of the server options of the same name.
  program.enablePositionalOptions();
  program.addCommand(keysCommand());
  program.addCommand(mintCommand());
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // commander has printed its own message; help and version end with status 0.
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : EXIT_CONFIG);
    if (error instanceof ConfigError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
}

main(process.argv).catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
