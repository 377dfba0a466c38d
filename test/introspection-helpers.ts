import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { expect } from 'vitest';
import type { Clock } from '../src/clock.js';
import { FROZEN_TIME, form } from './helpers.js';
import { expectNoStore, readJson } from './token-assertions.js';

export { unsignedJwt } from './helpers.js';

export const SIGNING_KEYS_FILE = fileURLToPath(
  new URL('./fixtures/signing-keys.json', import.meta.url),
);
export const OTHER_ISSUER_KEYS_FILE = fileURLToPath(
  new URL('./fixtures/other-issuer-keys.json', import.meta.url),
);

/** The frozen test time in seconds since the epoch, as `iat` and `exp` count. */
export const FROZEN_SECONDS = FROZEN_TIME / 1000;

/** Client that introspects in the tests: a resource server, not the client a token went to. */
export const RESOURCE_SERVER = { client_id: 'resource-server', client_secret: 'rs-secret' };

/** Client that requests tokens in `exchangeBody()`. */
export const TOKEN_CLIENT = { client_id: 'litellm-client', client_secret: 'litellm-secret' };

/** POSTs a form body to `path` of the server at `url`. */
export async function postForm(
  url: string,
  path: string,
  pairs: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: form(pairs),
  });
}

/** Introspects `token` as {@link RESOURCE_SERVER} and returns the raw response. */
export async function introspect(
  url: string,
  token: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  return postForm(url, '/oauth2/introspect', { token, ...RESOURCE_SERVER, ...extra });
}

/** Introspects `token`, checks the 200 JSON response and returns its body. */
export async function introspectBody(url: string, token: string): Promise<unknown> {
  const response = await introspect(url, token);
  expect(response.status).toBe(200);
  return readJson(response);
}

/** Revokes `token` as {@link TOKEN_CLIENT} unless `extra` names another client. */
export async function revoke(
  url: string,
  token: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  return postForm(url, '/oauth2/revoke', { token, ...TOKEN_CLIENT, ...extra });
}

/** Checks the RFC 7009 §2.2 success: status 200, the no-store headers and an empty body. */
export async function expectRevoked(response: Response): Promise<void> {
  expect(response.status).toBe(200);
  expectNoStore(response);
  expect(response.headers.get('content-length')).toBe('0');
  expect(await response.text()).toBe('');
}

/** Reads one private JWK of a fixture file by `kid`. */
export function fixtureKey(file: string, kid: string): JWK {
  const { keys } = JSON.parse(readFileSync(file, 'utf8')) as { keys: JWK[] };
  const key = keys.find((candidate) => candidate.kid === kid);
  if (!key) throw new Error(`no key ${kid} in ${file}`);
  return key;
}

/**
 * Signs claims with a fixture key. `header` replaces members of the protected header, which is
 * by default `{alg, kid, typ: 'at+jwt'}` of that key.
 */
export async function signJwt(
  key: JWK,
  claims: JWTPayload,
  header: Record<string, unknown> = {},
): Promise<string> {
  const privateKey = await importJWK(key, key.alg);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg as string, kid: key.kid, typ: 'at+jwt', ...header })
    .sign(privateKey);
}

/** Builds the claims of an RFC 9068 access token as this server issues them at the frozen time. */
export function accessTokenClaims(iss: string, overrides: JWTPayload = {}): JWTPayload {
  return {
    iss,
    sub: 'user-123',
    aud: 'api://my-mcp-server',
    client_id: 'litellm-client',
    iat: FROZEN_SECONDS,
    exp: FROZEN_SECONDS + 3600,
    jti: 'b1f4c1de-0000-4000-8000-000000000001',
    ...overrides,
  };
}

/** Returns a clock that starts at the frozen test time and moves only when a test advances it. */
export function steppingClock(): Clock & { advanceSeconds(seconds: number): void } {
  let now = FROZEN_TIME;
  return {
    now: () => now,
    advanceSeconds(seconds: number) {
      now += seconds * 1000;
    },
  };
}
