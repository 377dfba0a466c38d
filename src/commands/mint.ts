import { Command, InvalidArgumentError, Option } from 'commander';
import { KeyStore } from '../keys/keystore.js';
import {
  DEFAULT_MINT_LIFETIME,
  MAX_MINT_LIFETIME,
  MintOptionsError,
  type MintTokenOptions,
  mintToken,
} from '../tokens/mint.js';

/**
 * Issuer of minted tokens without `--issuer`: the issuer of a server started with the default
 * settings and reached as `127.0.0.1`. A server accepts a minted token as its own only when
 * `iss` equals its issuer.
 */
export const DEFAULT_MINT_ISSUER = 'http://127.0.0.1:9999';

/** Exit status for invalid options, as for the server's own options. */
const EXIT_USAGE = 2;

interface MintCliOptions {
  keysFile: string;
  kid?: string;
  sub: string;
  aud?: string[];
  scope?: string;
  expiresIn?: number;
  mayActSub?: string;
  actSub?: string;
  clientId?: string;
  claim?: Array<[string, unknown]>;
  issuer?: string;
  typ?: string;
}

/** Builds the `mint` subcommand, which signs subject and actor tokens for tests. */
export function mintCommand(): Command {
  const command = new Command('mint')
    .description(
      'sign a subject or actor token for tests with a key from a private JWKS file, and print it',
    )
    .requiredOption('--keys-file <file>', 'private JWKS file holding the signing key')
    .option('--kid <kid>', 'kid of the signing key (default: the first key of the file)')
    .requiredOption('--sub <subject>', 'sub claim')
    .addOption(
      new Option('--aud <audience>', 'aud claim; repeat for several audiences').argParser(
        collect<string>,
      ),
    )
    .option('--scope <scope>', 'scope claim, scope tokens separated by spaces')
    .addOption(
      new Option(
        '--expires-in <seconds>',
        `seconds from iat to exp, negative for an expired token (default: ${DEFAULT_MINT_LIFETIME})`,
      ).argParser(parseLifetime),
    )
    .option('--may-act-sub <subject>', 'may_act claim naming this sub (RFC 8693 §4.4)')
    .option('--act-sub <subject>', 'act claim naming this sub (RFC 8693 §4.1)')
    .option('--client-id <id>', 'client_id claim')
    .addOption(
      new Option(
        '--claim <name=value>',
        'extra claim, replacing any other of that name; the value is read as JSON when it parses, else as a string; repeatable',
      ).argParser(collectClaim),
    )
    .option('--issuer <url>', `iss claim (default: ${DEFAULT_MINT_ISSUER})`)
    .option('--typ <type>', 'typ header (default: at+jwt)')
    .exitOverride();

  command.action(async (options: MintCliOptions) => {
    const keys = await KeyStore.fromFile(options.keysFile, options.kid);
    try {
      const minted = await mintToken(
        {
          keys: async () => keys,
          nowSeconds: () => Math.floor(Date.now() / 1000),
          issuer: () => options.issuer ?? DEFAULT_MINT_ISSUER,
        },
        toMintOptions(options),
      );
      process.stdout.write(`${minted.token}\n`);
    } catch (error) {
      if (!(error instanceof MintOptionsError)) throw error;
      command.error(`error: ${error.message}`, {
        exitCode: EXIT_USAGE,
        code: 'mint.invalidOptions',
      });
    }
  });
  return command;
}

function toMintOptions(options: MintCliOptions): MintTokenOptions {
  const aud = options.aud?.length === 1 ? options.aud[0] : options.aud;
  return {
    sub: options.sub,
    ...(options.issuer !== undefined && { iss: options.issuer }),
    ...(aud !== undefined && { aud }),
    ...(options.scope !== undefined && { scope: options.scope }),
    ...(options.clientId !== undefined && { client_id: options.clientId }),
    ...(options.mayActSub !== undefined && { may_act: { sub: options.mayActSub } }),
    ...(options.actSub !== undefined && { act: { sub: options.actSub } }),
    ...(options.expiresIn !== undefined && { expiresIn: options.expiresIn }),
    ...(options.typ !== undefined && { typ: options.typ }),
    ...(options.claim !== undefined && { claims: Object.fromEntries(options.claim) }),
  };
}

function collect<T>(value: T, previous: T[] | undefined): T[] {
  return [...(previous ?? []), value];
}

/** Parses a whole number of seconds, negative allowed, within the minting limit. */
function parseLifetime(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number.');
  const seconds = Number(value);
  if (Math.abs(seconds) > MAX_MINT_LIFETIME) {
    throw new InvalidArgumentError(`must be from -${MAX_MINT_LIFETIME} to ${MAX_MINT_LIFETIME}.`);
  }
  return seconds;
}

/**
 * Parses `name=value`, splitting at the first `=`. The value is JSON when it parses, so `n=5`
 * is a number and `roles=["a"]` an array, and a string otherwise.
 */
function collectClaim(
  text: string,
  previous: Array<[string, unknown]> | undefined,
): Array<[string, unknown]> {
  const separator = text.indexOf('=');
  if (separator < 1) throw new InvalidArgumentError('must be name=value with a non-empty name.');
  const name = text.slice(0, separator);
  const raw = text.slice(separator + 1);
  if (previous?.some(([existing]) => existing === name)) {
    throw new InvalidArgumentError(`claim ${name} is given more than once.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  return [...(previous ?? []), [name, value]];
}
