import { Writable } from 'node:stream';
import { afterEach } from 'vitest';
import { frozenClock } from '../src/clock.js';
import { createServer, type MockTokenExchangeServer, type ServerOptions } from '../src/server.js';

/** Time every test server reads: 2026-01-01T00:00:00Z. */
export const FROZEN_TIME = Date.UTC(2026, 0, 1);

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** Unsigned JWT with `sub` = `user-123`, as in the README's curl example. */
export const UNSIGNED_USER_JWT = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTEyMyJ9.';

export interface TestServer {
  server: MockTokenExchangeServer;
  url: string;
  tokenUrl: string;
  /** Server log lines written so far, parsed from JSON. */
  logLines(): Record<string, unknown>[];
  /** Server log output written so far, as text. */
  logText(): string;
}

const running: MockTokenExchangeServer[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

/**
 * Starts a server on a free loopback port with a frozen clock and a captured server log. It is
 * closed after the test.
 */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  let output = '';
  const logStream = new Writable({
    write(chunk, _encoding, callback) {
      output += chunk.toString();
      callback();
    },
  });
  const server = createServer({
    clock: frozenClock(FROZEN_TIME),
    logStream,
    logLevel: 'info',
    ...options,
  });
  running.push(server);
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  return {
    server,
    url,
    tokenUrl: `${url}/oauth2/token`,
    logText: () => output,
    logLines: () =>
      output
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** Builds an unsigned JWT (`alg: none`) with the given claims. */
export function unsignedJwt(claims: object): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none' })}.${encode(claims)}.`;
}

/** Builds a form body from pairs, keeping repeats and order. */
export function form(pairs: Array<[string, string]> | Record<string, string>): string {
  const entries = Array.isArray(pairs) ? pairs : Object.entries(pairs);
  return new URLSearchParams(entries).toString();
}

/** Builds a valid token exchange body, with `overrides` replacing or adding parameters. */
export function exchangeBody(overrides: Record<string, string | undefined> = {}): string {
  const base: Record<string, string | undefined> = {
    grant_type: TOKEN_EXCHANGE,
    subject_token: UNSIGNED_USER_JWT,
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience: 'api://my-mcp-server',
    scope: 'mcp.tools.read mcp.tools.execute',
    client_id: 'litellm-client',
    client_secret: 'litellm-secret',
    ...overrides,
  };
  const pairs = Object.entries(base).filter(
    (pair): pair is [string, string] => pair[1] !== undefined,
  );
  return form(pairs);
}

/** POSTs a form body to the token endpoint. */
export async function postToken(
  tokenUrl: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
}

/** Encodes Basic credentials as RFC 6749 §2.3.1 specifies: form-urlencode each half, then base64. */
export function basicHeader(clientId: string, secret: string): string {
  const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}

/** Encodes Basic credentials without form-encoding them first, as some libraries do. */
export function rawBasicHeader(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
}
