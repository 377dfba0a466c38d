import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../src/clock.js';
import type { RequestLogEntry } from '../src/request-log/entry.js';
import { RequestLog } from '../src/request-log/store.js';
import {
  ACCESS_TOKEN_TYPE,
  basicHeader,
  exchangeBody,
  FROZEN_TIME,
  form,
  JWT_TOKEN_TYPE,
  postToken,
  startServer,
  type TestServer,
  TOKEN_EXCHANGE,
  UNSIGNED_USER_JWT,
  unsignedJwt,
} from './helpers.js';

const FROZEN_ISO = '2026-01-01T00:00:00.000Z';
const README_TOKEN = 'exchanged-53a23a852c28f3be-for-api://my-mcp-server';
const ACTOR_TOKEN = 'opaque-actor-token-42';
const OPAQUE_SUBJECT = 'opaque-subject-token-7';

const CLIENTS = [
  { clientId: 'litellm-client', clientSecret: 'litellm-secret' },
  { clientId: 'alpha', clientSecret: 'alpha-secret' },
  { clientId: 'beta', clientSecret: 'beta-secret' },
];

/** Computes a fingerprint apart from the server: the first 16 hex characters of SHA-256. */
function sha256Prefix(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 16);
}

async function getLog(
  url: string,
  query = '',
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${url}/log${query}`, { headers });
}

async function readLog(url: string, query = '') {
  const response = await getLog(url, query);
  expect(response.status).toBe(200);
  return (await response.json()) as {
    entries: RequestLogEntry[];
    size: number;
    capacity: number;
    dropped: number;
  };
}

/** Returns the `reqId` of the server log line for the only request to `method path`. */
function requestIdOf(server: TestServer, method: string, path: string): unknown {
  const lines = server
    .logLines()
    .filter((line) => line.method === method && line.path === path && line.reqId !== undefined);
  expect(lines).toHaveLength(1);
  return lines[0]?.reqId;
}

/** A JWT subject token as the log records it with `unsafeIncludeTokens` off. */
const loggedUserJwt = {
  type: ACCESS_TOKEN_TYPE,
  fingerprint: sha256Prefix(UNSIGNED_USER_JWT),
  jwt: { verified: false, header: { alg: 'none' }, claims: { sub: 'user-123' } },
};

describe('request log entry', () => {
  it('records successful exchange', async () => {
    const server = await startServer();
    const body = exchangeBody({ actor_token: ACTOR_TOKEN, actor_token_type: ACCESS_TOKEN_TYPE });
    const response = await postToken(server.tokenUrl, body);
    expect(response.status).toBe(200);
    const issued = ((await response.json()) as { access_token: string }).access_token;

    const log = await readLog(server.url);

    expect(log).toEqual({
      entries: [
        {
          id: requestIdOf(server, 'POST', '/oauth2/token'),
          time: FROZEN_ISO,
          client: { id: 'litellm-client', authMethod: 'client_secret_post', authenticated: true },
          grantType: TOKEN_EXCHANGE,
          subject: 'user-123',
          subjectToken: loggedUserJwt,
          actorToken: {
            type: ACCESS_TOKEN_TYPE,
            fingerprint: sha256Prefix(ACTOR_TOKEN),
            jwt: null,
          },
          audiences: ['api://my-mcp-server'],
          resources: [],
          requestedScope: 'mcp.tools.read mcp.tools.execute',
          grantedScope: 'mcp.tools.read mcp.tools.execute',
          requestedTokenType: null,
          issuedToken: { type: ACCESS_TOKEN_TYPE, fingerprint: sha256Prefix(issued), jwt: null },
          rule: null,
          outcome: { status: 200 },
        },
      ],
      size: 1,
      capacity: 1000,
      dropped: 0,
    });
  });

  it('records Basic client encoding', async () => {
    const server = await startServer({ clients: CLIENTS });
    const body = exchangeBody({ client_id: undefined, client_secret: undefined });
    const response = await postToken(server.tokenUrl, body, {
      authorization: basicHeader('litellm-client', 'litellm-secret'),
    });
    expect(response.status).toBe(200);

    const [entry] = (await readLog(server.url)).entries;

    expect(entry?.client).toEqual({
      id: 'litellm-client',
      authMethod: 'client_secret_basic',
      basicEncoding: 'plain',
      authenticated: true,
    });
  });

  it('records form-encoded Basic credentials', async () => {
    const server = await startServer({
      clients: [{ clientId: 'svc:reports', clientSecret: 'p@ss word' }],
    });
    const body = exchangeBody({ client_id: undefined, client_secret: undefined });
    const response = await postToken(server.tokenUrl, body, {
      authorization: basicHeader('svc:reports', 'p@ss word'),
    });
    expect(response.status).toBe(200);

    const [entry] = (await readLog(server.url)).entries;

    expect(entry?.client).toEqual({
      id: 'svc:reports',
      authMethod: 'client_secret_basic',
      basicEncoding: 'form-urlencoded',
      authenticated: true,
    });
  });

  it('records opaque subject without sub', async () => {
    const server = await startServer();
    const body = form([
      ['grant_type', TOKEN_EXCHANGE],
      ['subject_token', OPAQUE_SUBJECT],
      ['subject_token_type', ACCESS_TOKEN_TYPE],
      ['requested_token_type', ACCESS_TOKEN_TYPE],
      ['resource', 'https://api.example.com/orders'],
      ['audience', 'orders'],
      ['audience', 'billing'],
      ['client_id', 'public-client'],
    ]);
    const response = await postToken(server.tokenUrl, body);
    expect(response.status).toBe(200);
    const issued = ((await response.json()) as { access_token: string }).access_token;

    const [entry] = (await readLog(server.url)).entries;

    expect(entry).toEqual({
      id: requestIdOf(server, 'POST', '/oauth2/token'),
      time: FROZEN_ISO,
      client: { id: 'public-client', authMethod: 'none', authenticated: true },
      grantType: TOKEN_EXCHANGE,
      subject: null,
      subjectToken: {
        type: ACCESS_TOKEN_TYPE,
        fingerprint: sha256Prefix(OPAQUE_SUBJECT),
        jwt: null,
      },
      actorToken: null,
      audiences: ['orders', 'billing'],
      resources: ['https://api.example.com/orders'],
      requestedScope: null,
      grantedScope: null,
      requestedTokenType: ACCESS_TOKEN_TYPE,
      issuedToken: { type: ACCESS_TOKEN_TYPE, fingerprint: sha256Prefix(issued), jwt: null },
      rule: null,
      outcome: { status: 200 },
    });
  });

  it('fingerprints are SHA-256 prefixes', async () => {
    const server = await startServer();
    const subject = unsignedJwt({ sub: 'fingerprint-user', aud: 'gateway' });
    const body = exchangeBody({
      subject_token: subject,
      subject_token_type: JWT_TOKEN_TYPE,
      actor_token: ACTOR_TOKEN,
      actor_token_type: ACCESS_TOKEN_TYPE,
    });
    const response = await postToken(server.tokenUrl, body);
    const issued = ((await response.json()) as { access_token: string }).access_token;

    const [entry] = (await readLog(server.url)).entries;

    expect(entry?.subjectToken?.fingerprint).toBe(sha256Prefix(subject));
    expect(entry?.actorToken?.fingerprint).toBe(sha256Prefix(ACTOR_TOKEN));
    expect(entry?.issuedToken?.fingerprint).toBe(sha256Prefix(issued));
    expect(entry?.issuedToken?.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('request log memory', () => {
  setFlagsFromString('--expose-gc');
  const collectGarbage = runInNewContext('gc') as () => void;
  const REQUESTS = 150;
  const BODY_LENGTH = 60_000;

  function heapUsed(): number {
    collectGarbage();
    collectGarbage();
    return process.memoryUsage().heapUsed;
  }

  async function send(server: TestServer, body: (index: number) => string, first: number) {
    for (let index = first; index < first + REQUESTS; index += 1) {
      await (await postToken(server.tokenUrl, body(index))).arrayBuffer();
    }
  }

  /**
   * Sends `REQUESTS` bodies of about 60 kB and returns the heap kept per request, in bytes. A
   * first round, then cleared from the log, leaves out the code the JIT compiles once.
   */
  async function heapPerRequest(body: (index: number) => string): Promise<number> {
    const server = await startServer({ requestLog: { maxEntries: REQUESTS } });
    await send(server, body, 0);
    expect((await fetch(`${server.url}/log`, { method: 'DELETE' })).status).toBe(200);
    const before = heapUsed();
    await send(server, body, REQUESTS);
    const bytesPerRequest = (heapUsed() - before) / REQUESTS;
    expect((await readLog(server.url)).size).toBe(REQUESTS);
    return bytesPerRequest;
  }

  const padded = (base: string, filler: (index: number) => string) => {
    let body = base;
    for (let index = 0; body.length < BODY_LENGTH; index += 1) body += filler(index);
    return body;
  };

  // Most of each body below is content that the request log entry does not show. The issued
  // token's record in the token index needs none of it either, so neither may keep the body.
  it('keeps little of a body full of audiences', async () => {
    const perRequest = await heapPerRequest((request) =>
      padded(exchangeBody(), (index) => `&audience=aud-${request}-${index}`),
    );
    expect(perRequest).toBeLessThan(BODY_LENGTH / 6);
  });

  it('keeps little of a body full of unknown parameters', async () => {
    const perRequest = await heapPerRequest((request) =>
      padded(
        exchangeBody({ subject_token: unsignedJwt({ sub: `user-${request}` }) }),
        (index) => `&extension_${request}_${index}=value`,
      ),
    );
    expect(perRequest).toBeLessThan(BODY_LENGTH / 6);
  });

  it('keeps little of a long opaque subject token', async () => {
    const perRequest = await heapPerRequest((request) =>
      exchangeBody({ subject_token: `opaque-${request}-${'x'.repeat(BODY_LENGTH)}` }),
    );
    expect(perRequest).toBeLessThan(BODY_LENGTH / 6);
  });
});

describe('request log decoded JWT size', () => {
  const HEADER_LENGTH = JSON.stringify({ alg: 'none' }).length;

  /** Claims whose JSON, with the `alg: none` header, is exactly `length` characters long. */
  function claimsOfLength(length: number): Record<string, unknown> {
    const bare = JSON.stringify({ sub: 'size-user', pad: '' }).length;
    return { sub: 'size-user', pad: 'a'.repeat(length - HEADER_LENGTH - bare) };
  }

  async function loggedSubject(claims: object) {
    const server = await startServer();
    const subject = unsignedJwt(claims);
    await postToken(server.tokenUrl, exchangeBody({ subject_token: subject }));
    const [entry] = (await readLog(server.url)).entries;
    return entry?.subjectToken;
  }

  it('keeps a JWT of 16,384 characters of JSON', async () => {
    const claims = claimsOfLength(16_384);
    const logged = await loggedSubject(claims);
    expect(logged?.jwt).toEqual({ verified: false, header: { alg: 'none' }, claims });
  });

  it('drops a JWT of 16,385 characters of JSON', async () => {
    const logged = await loggedSubject(claimsOfLength(16_385));
    expect(logged?.jwt).toBeNull();
    expect(logged?.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('measures the JSON as serialised, not as sent', async () => {
    // `1e20` serialises as 21 digits, so 800 of them take some 3 KiB to send and 17 KiB to show.
    const sent = `{"sub":"size-user","n":[${Array(800).fill('1e20').join(',')}]}`;
    const encode = (text: string) => Buffer.from(text).toString('base64url');
    const server = await startServer();
    const subject = `${encode('{"alg":"none"}')}.${encode(sent)}.`;
    await postToken(server.tokenUrl, exchangeBody({ subject_token: subject }));
    const [entry] = (await readLog(server.url)).entries;
    expect(sent.length).toBeLessThan(16_384 / 4);
    expect(entry?.subjectToken?.jwt).toBeNull();
  });
});

describe('request log failures', () => {
  it('records wrong client secret', async () => {
    const server = await startServer({ clients: CLIENTS });
    const response = await postToken(
      server.tokenUrl,
      exchangeBody({ client_secret: 'not-the-secret' }),
    );
    expect(response.status).toBe(401);

    const [entry] = (await readLog(server.url)).entries;

    expect(entry).toEqual({
      id: requestIdOf(server, 'POST', '/oauth2/token'),
      time: FROZEN_ISO,
      client: { id: 'litellm-client', authMethod: 'client_secret_post', authenticated: false },
      grantType: TOKEN_EXCHANGE,
      subject: 'user-123',
      subjectToken: loggedUserJwt,
      actorToken: null,
      audiences: ['api://my-mcp-server'],
      resources: [],
      requestedScope: 'mcp.tools.read mcp.tools.execute',
      grantedScope: null,
      requestedTokenType: null,
      issuedToken: null,
      rule: null,
      outcome: {
        status: 401,
        error: 'invalid_client',
        errorDescription: 'client authentication failed',
        detail: 'secret does not match for "litellm-client"',
      },
    });
  });

  it('records duplicated parameter', async () => {
    const server = await startServer();
    const body = `${exchangeBody({ scope: 'first.scope' })}&scope=second.scope`;
    const response = await postToken(server.tokenUrl, body);
    expect(response.status).toBe(400);

    const [entry] = (await readLog(server.url)).entries;

    expect(entry).toEqual({
      id: requestIdOf(server, 'POST', '/oauth2/token'),
      time: FROZEN_ISO,
      client: { id: 'litellm-client', authMethod: 'client_secret_post', authenticated: true },
      grantType: TOKEN_EXCHANGE,
      subject: 'user-123',
      subjectToken: loggedUserJwt,
      actorToken: null,
      audiences: ['api://my-mcp-server'],
      resources: [],
      requestedScope: 'first.scope',
      grantedScope: null,
      requestedTokenType: null,
      issuedToken: null,
      rule: null,
      outcome: {
        status: 400,
        error: 'invalid_request',
        errorDescription: 'parameter scope must not be repeated',
        detail: 'scope was sent 2 times',
      },
    });
  });

  it('records body too large', async () => {
    const server = await startServer({ bodyLimit: 1024 });
    const body = exchangeBody({ subject_token: 'x'.repeat(2000) });
    const response = await postToken(server.tokenUrl, body);
    expect(response.status).toBe(413);

    const [entry] = (await readLog(server.url)).entries;

    expect(entry).toEqual({
      id: requestIdOf(server, 'POST', '/oauth2/token'),
      time: FROZEN_ISO,
      client: { id: null, authMethod: null, authenticated: false },
      grantType: null,
      subject: null,
      subjectToken: null,
      actorToken: null,
      audiences: [],
      resources: [],
      requestedScope: null,
      grantedScope: null,
      requestedTokenType: null,
      issuedToken: null,
      rule: null,
      outcome: {
        status: 413,
        error: 'invalid_request',
        errorDescription: 'request body exceeds 1024 bytes',
        detail: 'Request body is too large',
      },
    });
  });

  it('records JSON request body', async () => {
    const server = await startServer();
    const response = await fetch(server.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: TOKEN_EXCHANGE, client_id: 'litellm-client' }),
    });
    expect(response.status).toBe(400);

    const [entry] = (await readLog(server.url)).entries;

    expect(entry).toEqual({
      id: requestIdOf(server, 'POST', '/oauth2/token'),
      time: FROZEN_ISO,
      client: { id: null, authMethod: null, authenticated: false },
      grantType: null,
      subject: null,
      subjectToken: null,
      actorToken: null,
      audiences: [],
      resources: [],
      requestedScope: null,
      grantedScope: null,
      requestedTokenType: null,
      issuedToken: null,
      rule: null,
      outcome: {
        status: 400,
        error: 'invalid_request',
        errorDescription: 'request body must be application/x-www-form-urlencoded',
        detail: 'Content-Type was "application/json"',
      },
    });
  });

  // Only POST requests are token requests (RFC 6749 §3.2), so other methods are not recorded.
  it('GET token endpoint not recorded', async () => {
    const server = await startServer();
    const response = await fetch(server.tokenUrl);
    expect(response.status).toBe(405);

    const log = await readLog(server.url);

    expect(log.entries).toEqual([]);
    expect(log.size).toBe(0);
    expect(requestIdOf(server, 'GET', '/oauth2/token')).toEqual(expect.any(String));
  });
});

/** Makes five token requests at one-minute steps, each identified in the log by its `scope`. */
async function populate(): Promise<TestServer> {
  let now = FROZEN_TIME;
  const clock: Clock = { now: () => now };
  const server = await startServer({ clients: CLIENTS, clock });
  const requests: Array<Record<string, string>> = [
    { client_id: 'alpha', client_secret: 'alpha-secret', audience: 'api://one' },
    {
      client_id: 'beta',
      client_secret: 'beta-secret',
      audience: 'api://two',
      subject_token: OPAQUE_SUBJECT,
    },
    { client_id: 'alpha', client_secret: 'wrong-secret', audience: 'api://two' },
    {
      client_id: 'beta',
      client_secret: 'beta-secret',
      audience: 'api://one',
      subject_token_type: 'urn:ietf:params:oauth:token-type:saml2',
    },
    {
      client_id: 'alpha',
      client_secret: 'alpha-secret',
      audience: 'api://one',
      subject_token: unsignedJwt({ sub: 'user-456' }),
    },
  ];
  const statuses: number[] = [];
  for (const [index, overrides] of requests.entries()) {
    now = FROZEN_TIME + index * 60_000;
    const body = exchangeBody({ ...overrides, scope: `step${index + 1}` });
    const response = await postToken(server.tokenUrl, body);
    statuses.push(response.status);
  }
  expect(statuses).toEqual([200, 200, 401, 400, 200]);
  return server;
}

describe('request log filters', () => {
  it.each([
    ['client_id=alpha', ['step1', 'step3', 'step5']],
    ['client_id=beta', ['step2', 'step4']],
    ['client_id=nobody', []],
    ['audience=api%3A%2F%2Ftwo', ['step2', 'step3']],
    ['sub=user-123', ['step1', 'step3', 'step4']],
    ['sub=user-456', ['step5']],
    ['outcome=success', ['step1', 'step2', 'step5']],
    ['outcome=error', ['step3', 'step4']],
    ['outcome=invalid_client', ['step3']],
    ['outcome=invalid_request', ['step4']],
    ['since=2026-01-01T00:02:00.000Z', ['step3', 'step4', 'step5']],
    ['since=2026-01-01T00:02:00.001Z', ['step4', 'step5']],
    ['since=2026-01-01T01:03:00%2B01:00', ['step4', 'step5']],
    ['limit=2', ['step4', 'step5']],
    ['limit=10', ['step1', 'step2', 'step3', 'step4', 'step5']],
    ['client_id=alpha&limit=2', ['step3', 'step5']],
    ['client_id=alpha&outcome=success', ['step1', 'step5']],
  ])('filter %s', async (query, expected) => {
    const server = await populate();

    const log = await readLog(server.url, `?${query}`);

    expect(log.entries.map((entry) => entry.requestedScope)).toEqual(expected);
  });

  it('filtered page reports whole log', async () => {
    const server = await populate();

    const log = await readLog(server.url, '?client_id=beta');

    expect(log.size).toBe(5);
    expect(log.capacity).toBe(1000);
    expect(log.dropped).toBe(0);
  });

  it('since reads entry times', async () => {
    const server = await populate();

    const log = await readLog(server.url, '?since=2026-01-01T00:03:00Z');

    expect(log.entries.map((entry) => entry.time)).toEqual([
      '2026-01-01T00:03:00.000Z',
      '2026-01-01T00:04:00.000Z',
    ]);
  });

  it.each([
    ['limit=0', 'invalid query: limit: must be a whole number from 1 to 999999999'],
    ['limit=abc', 'invalid query: limit: must be a whole number from 1 to 999999999'],
    ['limit=1.5', 'invalid query: limit: must be a whole number from 1 to 999999999'],
    ['since=yesterday', 'invalid query: since: Invalid ISO datetime'],
    ['foo=1', 'invalid query: unknown filter foo'],
    [
      'client_id=a&client_id=b',
      'invalid query: client_id: Invalid input: expected string, received array',
    ],
  ])('invalid filter %s', async (query, description) => {
    const server = await startServer();

    const response = await getLog(server.url, `?${query}`);

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toEqual({
      error: 'invalid_request',
      error_description: description,
    });
  });
});

describe('request log clearing', () => {
  it('DELETE removes every entry', async () => {
    const server = await startServer();
    await postToken(server.tokenUrl, exchangeBody());
    await postToken(server.tokenUrl, exchangeBody({ audience: 'api://other' }));

    const response = await fetch(`${server.url}/log`, { method: 'DELETE' });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ removed: 2 });
    expect(await readLog(server.url)).toEqual({
      entries: [],
      size: 0,
      capacity: 1000,
      dropped: 0,
    });
  });

  it('DELETE resets dropped count', async () => {
    const server = await startServer({ requestLog: { maxEntries: 1 } });
    for (let i = 0; i < 3; i += 1) {
      await postToken(server.tokenUrl, exchangeBody({ scope: `step${i + 1}` }));
    }
    expect((await readLog(server.url)).dropped).toBe(2);

    const response = await fetch(`${server.url}/log`, { method: 'DELETE' });

    expect(await response.json()).toEqual({ removed: 1 });
    expect((await readLog(server.url)).dropped).toBe(0);
  });

  it('log records after clearing', async () => {
    const server = await startServer();
    await postToken(server.tokenUrl, exchangeBody({ scope: 'before' }));
    await fetch(`${server.url}/log`, { method: 'DELETE' });

    await postToken(server.tokenUrl, exchangeBody({ scope: 'after' }));
    const log = await readLog(server.url);

    expect(log.entries.map((entry) => entry.requestedScope)).toEqual(['after']);
  });
});

describe('request log bound', () => {
  it('keeps newest entries over HTTP', async () => {
    const server = await startServer({ requestLog: { maxEntries: 3 } });
    for (let i = 0; i < 5; i += 1) {
      const response = await postToken(server.tokenUrl, exchangeBody({ scope: `step${i + 1}` }));
      expect(response.status).toBe(200);
    }

    const log = await readLog(server.url);

    expect(log.entries.map((entry) => entry.requestedScope)).toEqual(['step3', 'step4', 'step5']);
    expect(log.size).toBe(3);
    expect(log.capacity).toBe(3);
    expect(log.dropped).toBe(2);
  });

  /** Builds a minimal entry for unit tests of the ring buffer, identified by `id`. */
  function entry(id: string): RequestLogEntry {
    return {
      id,
      time: FROZEN_ISO,
      client: { id: null, authMethod: null, authenticated: false },
      grantType: null,
      subject: null,
      subjectToken: null,
      actorToken: null,
      audiences: [],
      resources: [],
      requestedScope: null,
      grantedScope: null,
      requestedTokenType: null,
      issuedToken: null,
      rule: null,
      outcome: { status: 200 },
    };
  }

  it('ring buffer wraps around', () => {
    const capacity = 7;
    const log = new RequestLog(capacity);
    const observed: string[][] = [];
    const expected: string[][] = [];
    const sizes: number[] = [];

    for (let i = 0; i < 100; i += 1) {
      log.add(entry(`e${i}`));
      observed.push(log.entries().map((item) => item.id));
      const first = Math.max(0, i + 1 - capacity);
      expected.push(Array.from({ length: i + 1 - first }, (_, k) => `e${first + k}`));
      sizes.push(log.size);
    }

    expect(observed).toEqual(expected);
    expect(Math.max(...sizes)).toBe(capacity);
    expect(log.size).toBe(capacity);
    expect(log.dropped).toBe(93);
  });

  it('ring buffer query after wraparound', () => {
    const log = new RequestLog(7);
    for (let i = 0; i < 100; i += 1) log.add(entry(`e${i}`));

    const page = log.query({ limit: 3 });

    expect(page.entries.map((item) => item.id)).toEqual(['e97', 'e98', 'e99']);
    expect(page.size).toBe(7);
    expect(page.capacity).toBe(7);
    expect(page.dropped).toBe(93);
  });

  it('ring buffer refills after clear', () => {
    const log = new RequestLog(7);
    for (let i = 0; i < 100; i += 1) log.add(entry(`e${i}`));

    expect(log.clear()).toBe(7);
    log.add(entry('fresh'));

    expect(log.entries().map((item) => item.id)).toEqual(['fresh']);
    expect(log.size).toBe(1);
    expect(log.dropped).toBe(0);
  });

  it('ring buffer builds a pending entry once, when first read', () => {
    const log = new RequestLog(2);
    const built: string[] = [];
    const pending = (id: string) => () => {
      built.push(id);
      return entry(id);
    };
    log.add(pending('e0'));
    log.add(pending('e1'));
    log.add(pending('e2'));
    expect(built).toEqual([]);

    expect(log.entries().map((item) => item.id)).toEqual(['e1', 'e2']);
    expect(log.query({ limit: 1 }).entries.map((item) => item.id)).toEqual(['e2']);
    expect(built).toEqual(['e1', 'e2']);
  });

  it('ring buffer leaves out an entry that cannot be built', () => {
    const log = new RequestLog(3);
    log.add(entry('e0'));
    log.add(() => {
      throw new Error('cannot build');
    });
    log.add(() => entry('e2'));

    expect(log.entries().map((item) => item.id)).toEqual(['e0', 'e2']);
    expect(log.entries().map((item) => item.id)).toEqual(['e0', 'e2']);
    expect(log.size).toBe(3);
  });

  it.each([0, -1, 1.5, Number.NaN])('ring buffer rejects capacity %s', (capacity) => {
    expect(() => new RequestLog(capacity)).toThrow(RangeError);
  });
});

describe('request log admin token', () => {
  const challenge = 'Bearer realm="mock-token-exchange-server", error="invalid_token"';
  // RFC 6750 §3.1: a request without credentials, or with another scheme, gets a challenge
  // without an error code.
  const bareChallenge = 'Bearer realm="mock-token-exchange-server"';

  it.each(['GET', 'DELETE'])('%s without token rejected', async (method) => {
    const server = await startServer({ adminToken: 'adm-secret' });

    const response = await fetch(`${server.url}/log`, { method });

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(bareChallenge);
    expect(await response.json()).toEqual({
      error: 'invalid_token',
      error_description: 'the admin token is required as a Bearer token',
    });
  });

  it.each(['GET', 'DELETE'])('%s with wrong token rejected', async (method) => {
    const server = await startServer({ adminToken: 'adm-secret' });

    const response = await fetch(`${server.url}/log`, {
      method,
      headers: { authorization: 'Bearer adm-secreT' },
    });

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(challenge);
    expect(await response.json()).toEqual({
      error: 'invalid_token',
      error_description: 'the admin token is not valid',
    });
  });

  it('Basic credentials rejected', async () => {
    const server = await startServer({ adminToken: 'adm-secret' });

    const response = await getLog(server.url, '', {
      authorization: basicHeader('admin', 'adm-secret'),
    });

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(bareChallenge);
    expect(await response.json()).toEqual({
      error: 'invalid_token',
      error_description: 'the admin token is required as a Bearer token',
    });
  });

  it('token without scheme rejected', async () => {
    const server = await startServer({ adminToken: 'adm-secret' });

    const response = await getLog(server.url, '', { authorization: 'adm-secret' });

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(bareChallenge);
    expect(await response.json()).toEqual({
      error: 'invalid_token',
      error_description: 'the admin token is required as a Bearer token',
    });
  });

  it.each(['Bearer', 'Bearer adm-secret adm-secret'])(
    'malformed header %j rejected',
    async (authorization) => {
      const server = await startServer({ adminToken: 'adm-secret' });

      const response = await getLog(server.url, '', { authorization });

      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(challenge);
      expect(await response.json()).toEqual({
        error: 'invalid_token',
        error_description: 'the admin token is required as a Bearer token',
      });
    },
  );

  it('GET with token allowed', async () => {
    const server = await startServer({ adminToken: 'adm-secret' });
    await postToken(server.tokenUrl, exchangeBody());

    const response = await getLog(server.url, '', { authorization: 'Bearer adm-secret' });

    expect(response.status).toBe(200);
    expect(((await response.json()) as { size: number }).size).toBe(1);
  });

  // RFC 6750 §2.1 with RFC 9110 §11.1: the auth scheme is case-insensitive.
  it('lowercase bearer scheme allowed', async () => {
    const server = await startServer({ adminToken: 'adm-secret' });

    const response = await getLog(server.url, '', { authorization: 'bearer adm-secret' });

    expect(response.status).toBe(200);
  });

  it('DELETE with token allowed', async () => {
    const server = await startServer({ adminToken: 'adm-secret' });
    await postToken(server.tokenUrl, exchangeBody());

    const response = await fetch(`${server.url}/log`, {
      method: 'DELETE',
      headers: { authorization: 'Bearer adm-secret' },
    });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ removed: 1 });
  });

  it('health needs no token', async () => {
    const server = await startServer({ adminToken: 'adm-secret' });

    const response = await fetch(`${server.url}/health`);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('token endpoint needs no token', async () => {
    const server = await startServer({ adminToken: 'adm-secret' });

    const response = await postToken(server.tokenUrl, exchangeBody());

    expect(response.status).toBe(200);
    expect(((await response.json()) as { access_token: string }).access_token).toBe(README_TOKEN);
  });
});

describe('request log methods', () => {
  it.each(['POST', 'PUT', 'PATCH'])('%s log is 405', async (method) => {
    const server = await startServer();

    const response = await fetch(`${server.url}/log`, { method });

    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, DELETE');
    expect(await response.json()).toEqual({
      error: 'invalid_request',
      error_description: 'method not allowed, use GET or DELETE',
    });
  });
});
