import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { expect } from 'vitest';
import type { ServerOptions } from '../src/server.js';
import {
  ACCESS_TOKEN_TYPE,
  exchangeBody,
  FROZEN_TIME,
  form,
  postToken,
  startServer,
  type TestServer,
  TOKEN_EXCHANGE,
} from './helpers.js';
import { expectOAuthError, lastLogEntry } from './token-assertions.js';

export const SIGNING_KEYS_FILE = fileURLToPath(
  new URL('./fixtures/signing-keys.json', import.meta.url),
);
export const OTHER_ISSUER_KEYS_FILE = fileURLToPath(
  new URL('./fixtures/other-issuer-keys.json', import.meta.url),
);

/** The frozen server time in seconds since the epoch: 2026-01-01T00:00:00Z. */
export const NOW = FROZEN_TIME / 1000;

export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
export const REFRESH_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token';

/** Prefix of the `sub` the server gives a token without a `sub` claim. */
export const FINGERPRINT_SUBJECT = 'urn:mock-token-exchange-server:subject:';

function readKeys(path: string): JWK[] {
  return (JSON.parse(readFileSync(path, 'utf8')) as { keys: JWK[] }).keys;
}

/** Private JWKs of the fixtures, by `kid`. */
const FIXTURE_KEYS = new Map(
  [...readKeys(SIGNING_KEYS_FILE), ...readKeys(OTHER_ISSUER_KEYS_FILE)].map((jwk) => [
    jwk.kid as string,
    jwk,
  ]),
);

/** Returns the public JWK of a fixture key, without private members. */
export function publicJwk(kid: string): JWK {
  const { d, p, q, dp, dq, qi, ...publicMembers } = fixtureKey(kid);
  return publicMembers;
}

function fixtureKey(kid: string): JWK {
  const jwk = FIXTURE_KEYS.get(kid);
  if (jwk === undefined) throw new Error(`no fixture key ${kid}`);
  return jwk;
}

export interface SignOptions {
  /** Fixture key that signs; `test-rs256` by default. */
  key?: string;
  /** `kid` in the header; the signing key's own by default, `null` for none. */
  kid?: string | null;
  /** `typ` in the header; `at+jwt` by default, `null` for none. */
  typ?: string | null;
}

/**
 * Signs a JWT with a fixture key. Claims are taken as given, so a test sets `iss`, `exp` and
 * every other claim itself.
 */
export async function signToken(claims: JWTPayload, options: SignOptions = {}): Promise<string> {
  const jwk = fixtureKey(options.key ?? 'test-rs256');
  const alg = jwk.alg as string;
  const kid = options.kid === undefined ? jwk.kid : options.kid;
  const typ = options.typ === undefined ? 'at+jwt' : options.typ;
  const header = {
    alg,
    ...(kid !== null && { kid }),
    ...(typ !== null && { typ }),
  };
  return new SignJWT(claims).setProtectedHeader(header).sign(await importJWK(jwk, alg));
}

/** Builds a JWS compact token from a header and claims, with the given signature part. */
export function compactToken(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  signature = '',
): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode(header)}.${encode(claims)}.${signature}`;
}

/** Starts a server that signs JWTs with the fixture keys and validates in `verify` mode. */
export async function startVerifyServer(options: ServerOptions = {}): Promise<TestServer> {
  return startServer({
    keys: { file: SIGNING_KEYS_FILE },
    tokenFormat: 'jwt',
    ...options,
    subjectTokens: { validation: 'verify', ...options.subjectTokens },
  });
}

/** Builds a token exchange body without audience or scope, with `overrides` added. */
export function plainExchange(overrides: Record<string, string | undefined> = {}): string {
  return exchangeBody({ audience: undefined, scope: undefined, ...overrides });
}

/** Builds a token exchange body for `subjectToken` by client `clientId`, with `extra` added. */
export function exchangeFor(
  subjectToken: string,
  clientId: string,
  extra: Record<string, string> = {},
): string {
  return form({
    grant_type: TOKEN_EXCHANGE,
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    client_id: clientId,
    ...extra,
  });
}

/** Posts an exchange of `subjectToken` and returns the response. */
export async function exchangeSubject(
  server: Pick<TestServer, 'tokenUrl'>,
  subjectToken: string,
  overrides: Record<string, string | undefined> = {},
): Promise<Response> {
  return postToken(server.tokenUrl, plainExchange({ subject_token: subjectToken, ...overrides }));
}

export interface Rejection {
  /** The `error` code; `invalid_request` by default. */
  error?: string;
  /** The `error_description`; `subject_token is invalid` by default. */
  description?: string;
}

/**
 * Checks a 400 error response and the private `detail` the request log recorded for it.
 */
export async function expectRejected(
  server: TestServer,
  response: Response,
  detail: string,
  rejection: Rejection = {},
): Promise<void> {
  await expectOAuthError(
    response,
    400,
    rejection.error ?? 'invalid_request',
    rejection.description ?? 'subject_token is invalid',
  );
  const entry = await lastLogEntry(server.url);
  expect(entry.outcome.detail).toBe(detail);
}
