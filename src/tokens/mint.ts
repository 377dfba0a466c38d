import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { formatPath } from '../config/errors.js';
import { truncate } from '../grants/targets.js';
import type { KeyStore, SigningAlgorithm } from '../keys/keystore.js';
import { signCompactJws } from '../keys/sign.js';

/** RFC 6749 §3.3: one scope token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** RFC 6749 §3.3: scope tokens joined by single spaces. */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;

/** Largest `expiresIn`, in either direction, in seconds: ten years. */
export const MAX_MINT_LIFETIME = 315_360_000;

/** Default `expiresIn`, in seconds. */
export const DEFAULT_MINT_LIFETIME = 3600;

/** Deepest nesting of objects and arrays accepted in a claim value. */
const MAX_CLAIM_DEPTH = 32;

const AUDIENCE_MESSAGE = 'must be a non-empty string or a non-empty array of non-empty strings';
const SCOPE_MESSAGE =
  'must be RFC 6749 scope tokens separated by single spaces, or a non-empty array of scope tokens';
const SCOPE_TOKEN_MESSAGE = 'must be one RFC 6749 scope token, without spaces';

/** Builds an error message function that distinguishes a missing value from an invalid one. */
function expected(description: string) {
  return (issue: { input?: unknown }) =>
    issue.input === undefined ? 'is required' : `must be ${description}`;
}

const nonEmptyString = (description: string) =>
  z.string({ error: expected(description) }).min(1, `must be ${description}`);

const jsonValue = z
  .unknown()
  .refine((value) => isJsonValue(value, 0), 'must be a JSON value (no undefined, NaN or Infinity)');

const jsonObject = (name: string) =>
  z.record(z.string().min(1), jsonValue, {
    error: (issue) => (issue.code === 'invalid_key' ? `has an empty ${name}` : 'must be an object'),
  });

const seconds = (description: string) =>
  z.number({ error: expected(description) }).int(`must be ${description}`);

/**
 * Options of {@link mintToken}. An option named after a claim sets that claim. `claims` is
 * applied last and may replace any claim, so a test can mint an expired or a foreign token.
 */
export const mintOptionsSchema = z.strictObject({
  /** `iss`; the issuer of the server by default. */
  iss: nonEmptyString('a non-empty string').optional(),
  /** `sub`, required. */
  sub: nonEmptyString('a non-empty string'),
  /** `aud`: one audience as a string, or several as an array. */
  aud: z
    .union(
      [
        z.string().min(1, AUDIENCE_MESSAGE),
        z.array(nonEmptyString('a non-empty string')).min(1, AUDIENCE_MESSAGE),
      ],
      { error: AUDIENCE_MESSAGE },
    )
    .optional(),
  /** `scope`: scope tokens as one space-separated string or as an array, joined by spaces. */
  scope: z
    .union(
      [
        z.string().regex(SCOPE, SCOPE_MESSAGE),
        z
          .array(z.string(SCOPE_TOKEN_MESSAGE).regex(SCOPE_TOKEN, SCOPE_TOKEN_MESSAGE))
          .min(1, SCOPE_MESSAGE),
      ],
      { error: SCOPE_MESSAGE },
    )
    .optional(),
  /** `client_id` (RFC 9068 §2.2). */
  client_id: nonEmptyString('a non-empty string').optional(),
  /** `may_act` (RFC 8693 §4.4): the parties allowed to act for the subject. */
  may_act: jsonObject('claim name').optional(),
  /** `act` (RFC 8693 §4.1): the party acting for the subject. */
  act: jsonObject('claim name').optional(),
  /** `nbf` in seconds since the epoch. */
  nbf: seconds('a whole number of seconds since the epoch').optional(),
  /** Seconds from `iat` to `exp`; negative for a token that has already expired. */
  expiresIn: seconds('a whole number of seconds')
    .min(-MAX_MINT_LIFETIME, `must be at least -${MAX_MINT_LIFETIME}`)
    .max(MAX_MINT_LIFETIME, `must be at most ${MAX_MINT_LIFETIME}`)
    .default(DEFAULT_MINT_LIFETIME),
  /** More claims, applied last: they replace any claim above, registered claims included. */
  claims: jsonObject('claim name').optional(),
  /** `typ` header: `at+jwt` (RFC 9068 §2.1) by default, `JWT` for a token like an ID token. */
  typ: z
    .string({ error: expected('a string') })
    .regex(/^[\x21-\x7E]{1,255}$/, 'must be 1 to 255 printable ASCII characters without spaces')
    .default('at+jwt'),
  /** `kid` of the signing key; the active key by default. */
  kid: nonEmptyString('a non-empty string').optional(),
});

/** Options of {@link mintToken} as a caller writes them. */
export type MintTokenOptions = z.input<typeof mintOptionsSchema>;

/** A minted token with the header and claims it carries. */
export interface MintedToken {
  /** The signed JWT in compact serialization. */
  token: string;
  header: { alg: SigningAlgorithm; kid: string; typ: string };
  claims: Record<string, unknown>;
}

/** Dependencies of minting, supplied by a server or by the CLI from a key file. */
export interface MintContext {
  keys(): Promise<KeyStore>;
  /** Current time in whole seconds since the epoch, the `iat` of the token. */
  nowSeconds(): number;
  /** Returns the `iss` used when the options set none; called only then. */
  issuer(): string;
}

/** Options that break {@link mintOptionsSchema}, with one message per problem. */
export class MintOptionsError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid token options: ${listProblems(problems)}`);
    this.name = 'MintOptionsError';
    this.problems = problems;
  }
}

/**
 * Signs a JWT for tests with the active key, or the key named by `kid`. The header is
 * `{alg, kid, typ}`. The claims are `iss`, `sub`, the optional claims given, `iat` from the
 * context's clock, `exp` = `iat` + `expiresIn` but not below 0, and a random `jti`, then `claims`
 * on top.
 * @throws MintOptionsError when an option is invalid or `kid` names no key.
 */
export async function mintToken(
  context: MintContext,
  options: MintTokenOptions,
): Promise<MintedToken> {
  const parsed = parseMintOptions(options);
  const keys = await context.keys();
  const key = parsed.kid === undefined ? keys.active : keys.find(parsed.kid);
  if (!key) throw new MintOptionsError(['kid names no signing key of this key set']);

  const iat = context.nowSeconds();
  const scope = Array.isArray(parsed.scope) ? parsed.scope.join(' ') : parsed.scope;
  const claims: Record<string, unknown> = {
    iss: parsed.iss ?? context.issuer(),
    sub: parsed.sub,
    ...(parsed.aud !== undefined && { aud: parsed.aud }),
    ...(parsed.client_id !== undefined && { client_id: parsed.client_id }),
    ...(scope !== undefined && { scope }),
    ...(parsed.may_act !== undefined && { may_act: parsed.may_act }),
    ...(parsed.act !== undefined && { act: parsed.act }),
    iat,
    ...(parsed.nbf !== undefined && { nbf: parsed.nbf }),
    // RFC 7519 §2: a NumericDate counts seconds from 1970; near then, an expired token's exp
    // stops at 0, which is still not after iat.
    exp: Math.max(0, iat + parsed.expiresIn),
    jti: randomUUID(),
    ...parsed.claims,
  };
  const header = { alg: key.alg, kid: key.kid, typ: parsed.typ };
  const token = await signCompactJws(key, header, claims);
  return { token, header, claims };
}

/**
 * Validates minting options and applies their defaults.
 * @throws MintOptionsError naming each invalid or unknown option.
 */
export function parseMintOptions(options: unknown): z.output<typeof mintOptionsSchema> {
  const result = mintOptionsSchema.safeParse(options);
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((issue): string[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `unknown option ${truncate(key, 40)}`);
    }
    if (issue.path.length === 0) return ['the options must be an object'];
    // A record key issue's path ends with the key itself, which is empty here.
    const path = issue.code === 'invalid_key' ? issue.path.slice(0, -1) : issue.path;
    return [`${truncate(formatPath(path), 60)} ${issue.message}`];
  });
  throw new MintOptionsError(problems);
}

/** Joins problems for a message, keeping it short when there are many. */
function listProblems(problems: readonly string[]): string {
  const listed = problems.slice(0, 5);
  const more =
    problems.length > listed.length ? ` and ${problems.length - listed.length} more` : '';
  return `${listed.join('; ')}${more}`;
}

/** Returns true for a value that JSON represents as it is: no undefined, function or NaN. */
function isJsonValue(value: unknown, depth: number): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || depth >= MAX_CLAIM_DEPTH) return false;
  if (Array.isArray(value)) return value.every((item) => isJsonValue(item, depth + 1));
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  return Object.values(value).every((item) => isJsonValue(item, depth + 1));
}
