import { describe, expect, it, vi } from 'vitest';
import type { RequestLogEntry } from '../src/request-log/entry.js';
import {
  ACCESS_TOKEN_TYPE,
  basicHeader,
  exchangeBody,
  form,
  JWT_TOKEN_TYPE,
  postToken,
  rawBasicHeader,
  startServer,
  type TestServer,
  TOKEN_EXCHANGE,
} from './helpers.js';

const CLIENT_ID = 'redaction-client';
const CLIENT_SECRET = 's3cr3t-VALUE-123';
const WRONG_SECRET = 'wr0ng-VALUE-999';
/** A JWT with a signature part, so the compact form differs from anything the log decodes. */
const JWT_SUBJECT =
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZWRhY3Rpb24tdXNlciJ9.c2lnbmF0dXJlLW9mLXRoZS1zdWJqZWN0';
const OPAQUE_SUBJECT = 'opaque-SUBJECT-xyz';
const ACTOR_TOKEN = 'opaque-ACTOR-abc';

const CLIENTS = [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }];

/** Builds an exchange body with client_secret_post credentials and an actor token. */
function postAuthBody(subjectToken: string, secret = CLIENT_SECRET): string {
  return exchangeBody({
    client_id: CLIENT_ID,
    client_secret: secret,
    subject_token: subjectToken,
    subject_token_type: JWT_TOKEN_TYPE,
    actor_token: ACTOR_TOKEN,
    actor_token_type: ACCESS_TOKEN_TYPE,
  });
}

/** Builds an exchange body for client_secret_basic, which carries no credentials. */
function basicAuthBody(subjectToken: string): string {
  return exchangeBody({
    client_id: undefined,
    client_secret: undefined,
    subject_token: subjectToken,
    actor_token: ACTOR_TOKEN,
    actor_token_type: ACCESS_TOKEN_TYPE,
  });
}

async function issuedToken(response: Response): Promise<string> {
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function logJson(server: TestServer): Promise<string> {
  const response = await fetch(`${server.url}/log`);
  expect(response.status).toBe(200);
  return response.text();
}

/** Asserts that no value appears in the request log JSON or in the server log. */
async function expectAbsent(server: TestServer, values: Record<string, string>): Promise<void> {
  const requestLog = await logJson(server);
  const serverLog = server.logText();
  for (const [name, value] of Object.entries(values)) {
    expect(requestLog, `${name} in GET /log`).not.toContain(value);
    expect(serverLog, `${name} in the server log`).not.toContain(value);
  }
}

describe('redaction of successful requests', () => {
  it('post credentials stay hidden', async () => {
    const server = await startServer({ clients: CLIENTS });
    const jwtIssued = await issuedToken(
      await postToken(server.tokenUrl, postAuthBody(JWT_SUBJECT)),
    );
    const opaqueIssued = await issuedToken(
      await postToken(server.tokenUrl, postAuthBody(OPAQUE_SUBJECT)),
    );

    await expectAbsent(server, {
      'client secret': CLIENT_SECRET,
      'JWT subject token': JWT_SUBJECT,
      'opaque subject token': OPAQUE_SUBJECT,
      'actor token': ACTOR_TOKEN,
      'token issued for the JWT': jwtIssued,
      'token issued for the opaque token': opaqueIssued,
    });
  });

  it('Basic credentials stay hidden', async () => {
    const server = await startServer({ clients: CLIENTS });
    const authorization = basicHeader(CLIENT_ID, CLIENT_SECRET);
    const jwtIssued = await issuedToken(
      await postToken(server.tokenUrl, basicAuthBody(JWT_SUBJECT), { authorization }),
    );
    const opaqueIssued = await issuedToken(
      await postToken(server.tokenUrl, basicAuthBody(OPAQUE_SUBJECT), { authorization }),
    );

    await expectAbsent(server, {
      'client secret': CLIENT_SECRET,
      'Basic credentials': authorization.slice('Basic '.length),
      'JWT subject token': JWT_SUBJECT,
      'opaque subject token': OPAQUE_SUBJECT,
      'actor token': ACTOR_TOKEN,
      'token issued for the JWT': jwtIssued,
      'token issued for the opaque token': opaqueIssued,
    });
  });

  it('trace-level server log clean', async () => {
    const server = await startServer({ clients: CLIENTS, logLevel: 'trace' });
    const postIssued = await issuedToken(
      await postToken(server.tokenUrl, postAuthBody(JWT_SUBJECT)),
    );
    const basicIssued = await issuedToken(
      await postToken(server.tokenUrl, basicAuthBody(OPAQUE_SUBJECT), {
        authorization: rawBasicHeader(CLIENT_ID, CLIENT_SECRET),
      }),
    );

    await expectAbsent(server, {
      'client secret': CLIENT_SECRET,
      'JWT subject token': JWT_SUBJECT,
      'opaque subject token': OPAQUE_SUBJECT,
      'actor token': ACTOR_TOKEN,
      'token issued with post': postIssued,
      'token issued with Basic': basicIssued,
    });
  });
});

describe('redaction of failed requests', () => {
  it.each(['info', 'trace'] as const)('failures hide secrets at %s', async (logLevel) => {
    const server = await startServer({ clients: CLIENTS, logLevel });
    const responses = [
      await postToken(server.tokenUrl, postAuthBody(JWT_SUBJECT, WRONG_SECRET)),
      await postToken(server.tokenUrl, basicAuthBody(OPAQUE_SUBJECT), {
        authorization: basicHeader(CLIENT_ID, WRONG_SECRET),
      }),
      await postToken(
        server.tokenUrl,
        `${postAuthBody(JWT_SUBJECT)}&${form({ subject_token: OPAQUE_SUBJECT })}`,
      ),
      await postToken(`${server.tokenUrl}?client_secret=${CLIENT_SECRET}`, postAuthBody('t')),
    ];

    expect(responses.map((response) => response.status)).toEqual([401, 401, 400, 400]);
    expect(server.server.requestLog.size).toBe(4);
    await expectAbsent(server, {
      'client secret': CLIENT_SECRET,
      'wrong secret': WRONG_SECRET,
      'JWT subject token': JWT_SUBJECT,
      'opaque subject token': OPAQUE_SUBJECT,
      'actor token': ACTOR_TOKEN,
    });
  });
});

describe('unsafeIncludeTokens', () => {
  it('stores token values in entries', async () => {
    const server = await startServer({
      clients: CLIENTS,
      requestLog: { unsafeIncludeTokens: true },
    });
    const issued = await issuedToken(await postToken(server.tokenUrl, postAuthBody(JWT_SUBJECT)));

    const log = JSON.parse(await logJson(server)) as { entries: RequestLogEntry[] };
    const [entry] = log.entries;

    expect(entry?.subjectToken?.value).toBe(JWT_SUBJECT);
    expect(entry?.actorToken?.value).toBe(ACTOR_TOKEN);
    expect(entry?.issuedToken?.value).toBe(issued);
  });

  it('stores opaque subject value', async () => {
    const server = await startServer({
      clients: CLIENTS,
      requestLog: { unsafeIncludeTokens: true },
    });
    await issuedToken(
      await postToken(server.tokenUrl, basicAuthBody(OPAQUE_SUBJECT), {
        authorization: basicHeader(CLIENT_ID, CLIENT_SECRET),
      }),
    );

    const log = JSON.parse(await logJson(server)) as { entries: RequestLogEntry[] };

    expect(log.entries[0]?.subjectToken?.value).toBe(OPAQUE_SUBJECT);
  });

  it('still hides client secret', async () => {
    const server = await startServer({
      clients: CLIENTS,
      requestLog: { unsafeIncludeTokens: true },
    });
    const authorization = basicHeader(CLIENT_ID, CLIENT_SECRET);
    const issued = await issuedToken(await postToken(server.tokenUrl, postAuthBody(JWT_SUBJECT)));
    await issuedToken(
      await postToken(server.tokenUrl, basicAuthBody(OPAQUE_SUBJECT), { authorization }),
    );
    await postToken(server.tokenUrl, postAuthBody(JWT_SUBJECT, WRONG_SECRET));

    await expectAbsent(server, {
      'client secret': CLIENT_SECRET,
      'wrong secret': WRONG_SECRET,
      'Basic credentials': authorization.slice('Basic '.length),
    });
    // The server log never carries tokens, whatever the request log setting.
    expect(server.logText()).not.toContain(JWT_SUBJECT);
    expect(server.logText()).not.toContain(issued);
  });
});

describe('server log lines', () => {
  const REQUEST_LINE_KEYS = [
    'durationMs',
    'hostname',
    'level',
    'method',
    'msg',
    'path',
    'pid',
    'reqId',
    'statusCode',
    'time',
  ];

  it('one line per request', async () => {
    const server = await startServer();
    await postToken(`${server.tokenUrl}?client-request-id=abc`, exchangeBody());
    await fetch(`${server.url}/health?probe=1`);
    await fetch(`${server.url}/log?limit=1`);
    await fetch(`${server.url}/missing?token=abc`);
    await fetch(server.tokenUrl, { method: 'GET' });

    const requestLines = () => server.logLines().filter((line) => line.reqId !== undefined);
    await vi.waitFor(() => expect(requestLines()).toHaveLength(5));
    const lines = requestLines();

    expect(new Set(lines.map((line) => line.reqId)).size).toBe(5);
    expect(lines.map((line) => [line.method, line.path, line.statusCode])).toEqual([
      ['POST', '/oauth2/token', 200],
      ['GET', '/health', 200],
      ['GET', '/log', 200],
      ['GET', '/missing', 404],
      ['GET', '/oauth2/token', 405],
    ]);
    for (const line of lines) {
      expect(Object.keys(line).sort()).toEqual(REQUEST_LINE_KEYS);
      expect(line.msg).toBe('request completed');
      expect(line.level).toBe(30);
      expect(line.durationMs).toBeTypeOf('number');
      expect(line.durationMs as number).toBeGreaterThanOrEqual(0);
    }
  });

  it('request line omits query string', async () => {
    const server = await startServer();
    await postToken(`${server.tokenUrl}?client-request-id=abc`, exchangeBody());

    await vi.waitFor(() => expect(server.logText()).toContain('request completed'));

    expect(server.logText()).not.toContain('client-request-id');
    expect(server.logText()).not.toContain('?');
  });

  it('request line omits headers and body', async () => {
    const server = await startServer();
    await postToken(server.tokenUrl, exchangeBody({ subject_token: OPAQUE_SUBJECT }), {
      'x-trace-marker': 'header-marker-value',
    });

    await vi.waitFor(() => expect(server.logText()).toContain('request completed'));
    const text = server.logText();

    expect(text).not.toContain('header-marker-value');
    expect(text).not.toContain('x-trace-marker');
    expect(text).not.toContain('content-type');
    expect(text).not.toContain('litellm-secret');
    expect(text).not.toContain(OPAQUE_SUBJECT);
    expect(text).not.toContain(TOKEN_EXCHANGE);
  });
});
