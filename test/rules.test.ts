import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { frozenClock } from '../src/clock.js';
import { readConfigFile } from '../src/config/load.js';
import type { RuleInput } from '../src/rules/rule.js';
import { createServer, type ServerOptions } from '../src/server.js';
import {
  ACCESS_TOKEN_TYPE,
  basicHeader,
  exchangeBody,
  FROZEN_TIME,
  form,
  postToken,
  startServer,
  type TestServer,
  unsignedJwt,
} from './helpers.js';
import { FROZEN_SECONDS, introspectBody, SIGNING_KEYS_FILE } from './introspection-helpers.js';
import {
  expectNoStore,
  expectOAuthError,
  expectTokenResponse,
  lastLogEntry,
  logEntries,
  readJson,
} from './token-assertions.js';

const temporaryDirectories: string[] = [];

afterAll(async () => {
  await Promise.all(temporaryDirectories.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Writes a config file named `name` into a fresh directory and reads it as `--config` does. */
async function readConfigText(name: string, text: string): Promise<ServerOptions> {
  const dir = await mkdtemp(join(tmpdir(), 'mtes-rules-'));
  temporaryDirectories.push(dir);
  const file = join(dir, name);
  await writeFile(file, text);
  return readConfigFile(file);
}

/** Starts a server from a YAML config file, as `--config` reads it. */
async function startFromYaml(yaml: string, extra: ServerOptions = {}): Promise<TestServer> {
  return startServer({ ...(await readConfigText('config.yaml', yaml)), ...extra });
}

/** Sends a JSON request to the control API and returns the response. */
function adminRequest(url: string, method: string, path: string, body?: unknown) {
  return fetch(`${url}${path}`, {
    method,
    ...(body !== undefined && {
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  });
}

/** Builds an unsigned JWT whose claims are the JSON text `claims`, written as it is. */
function unsignedJwtWithClaims(claims: string): string {
  const encode = (text: string) => Buffer.from(text).toString('base64url');
  return `${encode('{"alg":"none"}')}.${encode(claims)}.`;
}

/** Builds a rule that responds with 503 when `match` holds, so a matching request stands out. */
function failWhen(match: RuleInput['match']): RuleInput {
  return {
    id: 'fail',
    match,
    action: { type: 'error', error: 'temporarily_unavailable', status: 503 },
  };
}

const CLIENT_CREDENTIALS_BODY = form({
  grant_type: 'client_credentials',
  client_id: 'litellm-client',
  client_secret: 'litellm-secret',
});

describe('configured rules', () => {
  const yaml = `
rules:
  - id: rate-limited          # shown in the request log; rule-1, rule-2... when absent
    match: { clientId: litellm-client }
    times: 1                  # fires at most once; unlimited when absent
    action: { type: error, error: slow_down, status: 429 }
`;

  it('fire once from file', async () => {
    const { tokenUrl } = await startFromYaml(yaml);

    const first = await postToken(tokenUrl, exchangeBody());
    const second = await postToken(tokenUrl, exchangeBody());

    await expectOAuthError(first, 429, 'slow_down', 'the request could not be processed');
    await expectTokenResponse(second);
  });

  it('get generated ids', async () => {
    const { url, tokenUrl } = await startServer({
      rules: [
        { match: { clientId: 'other' }, action: { type: 'close' } },
        { action: { type: 'delay', ms: 0 } },
      ],
    });

    await postToken(tokenUrl, exchangeBody());

    expect((await lastLogEntry(url)).rule).toBe('rule-2');
  });
});

describe('automatic rule ids', () => {
  const CLOSE = { type: 'close' } as const;
  const STORED_RULE_1 = { id: 'rule-1', match: {}, action: CLOSE, fired: 0 };

  /** Adds a rule without id over HTTP, which must succeed, and returns its body. */
  async function addUnnamed(url: string): Promise<unknown> {
    const response = await adminRequest(url, 'POST', '/admin/rules', { action: CLOSE });
    expect(response.status).toBe(201);
    return readJson(response);
  }

  const rejections: Array<{
    name: string;
    rules?: RuleInput[];
    path: string;
    body: unknown;
    description: string;
  }> = [
    {
      name: 'position past the end',
      path: '/admin/rules?position=3',
      body: { action: CLOSE },
      description: 'position: must be at most 0, the number of rules',
    },
    {
      name: 'malformed position',
      path: '/admin/rules?position=x',
      body: { action: CLOSE },
      description: 'position: must be a whole number from 0',
    },
    {
      name: 'invalid rule',
      path: '/admin/rules',
      body: { action: { type: 'explode' } },
      description: 'action.type: must be one of error, response, delay, close, hang, modify',
    },
    {
      name: 'taken id',
      rules: [{ id: 'taken', match: { clientId: 'nobody' }, action: CLOSE }],
      path: '/admin/rules',
      body: { id: 'taken', action: CLOSE },
      description: 'a rule with id taken already exists',
    },
  ];

  for (const { name, rules = [], path, body, description } of rejections) {
    it(`stay unused after ${name}`, async () => {
      const { url } = await startServer({ rules });

      const rejected = await adminRequest(url, 'POST', path, body);
      await expectOAuthError(rejected, 400, 'invalid_request', description);

      expect(await addUnnamed(url)).toEqual(STORED_RULE_1);
    });
  }

  it('stay unused after full list', async () => {
    const rules = Array.from({ length: 1000 }, (_, index) => ({
      id: `configured-${index}`,
      match: { clientId: 'nobody' },
      action: CLOSE,
    }));
    const { url } = await startServer({ rules });

    const rejected = await adminRequest(url, 'POST', '/admin/rules', { action: CLOSE });
    await expectOAuthError(rejected, 400, 'invalid_request', 'at most 1000 rules are held');
    const deleted = await adminRequest(url, 'DELETE', '/admin/rules/configured-0');
    expect(deleted.status).toBe(200);

    expect(await addUnnamed(url)).toEqual(STORED_RULE_1);
  });

  it('stay unused after rejected rules.add', async () => {
    const { server } = await startServer();

    expect(() => server.rules.add({ action: CLOSE }, 1)).toThrow(
      'position: must be at most 0, the number of rules',
    );

    expect(server.rules.add({ action: CLOSE })).toEqual(STORED_RULE_1);
  });

  it('are not reused after delete and reset', async () => {
    const { url } = await startServer();

    expect(await addUnnamed(url)).toEqual(STORED_RULE_1);
    expect((await adminRequest(url, 'DELETE', '/admin/rules/rule-1')).status).toBe(200);
    expect((await adminRequest(url, 'POST', '/admin/reset')).status).toBe(200);

    expect(await addUnnamed(url)).toEqual({ ...STORED_RULE_1, id: 'rule-2' });
  });
});

describe('error action', () => {
  const yaml = `
rules:
  - id: rate-limited
    match: { clientId: litellm-client }
    action:
      type: error
      error: slow_down
      description: too many requests
      status: 429
      headers: { Retry-After: "30" }
`;

  it('sends scripted status and body', async () => {
    const { tokenUrl } = await startFromYaml(yaml);

    const response = await postToken(tokenUrl, exchangeBody());

    await expectOAuthError(response, 429, 'slow_down', 'too many requests');
  });

  it('sends scripted Retry-After header', async () => {
    const { tokenUrl } = await startFromYaml(yaml);

    const response = await postToken(tokenUrl, exchangeBody());

    expect(response.headers.get('retry-after')).toBe('30');
  });

  it('logs rule and detail', async () => {
    const { url, tokenUrl } = await startFromYaml(yaml);

    await postToken(tokenUrl, exchangeBody());
    const entry = await lastLogEntry(url);

    expect(entry.rule).toBe('rate-limited');
    expect(entry.outcome).toEqual({
      status: 429,
      error: 'slow_down',
      errorDescription: 'too many requests',
      detail: 'error scripted by rule rate-limited',
    });
  });

  it('uses default description', async () => {
    const { tokenUrl } = await startServer({
      rules: [{ action: { type: 'error', error: 'server_error', status: 503 } }],
    });

    const response = await postToken(tokenUrl, exchangeBody());

    await expectOAuthError(response, 503, 'server_error', 'the request could not be processed');
  });

  it('scripts invalid_client with challenge', async () => {
    const { tokenUrl } = await startFromYaml(`
rules:
  - id: reject-gateway
    match: { clientId: gateway }
    action:
      type: error
      error: invalid_client
      description: client authentication failed
      status: 401
      headers: { WWW-Authenticate: 'Basic realm="partner", charset="UTF-8"' }
`);

    const response = await postToken(tokenUrl, CLIENT_CREDENTIALS_BODY, {
      authorization: basicHeader('gateway', 'gateway-secret'),
    });

    expect(response.headers.get('www-authenticate')).toBe('Basic realm="partner", charset="UTF-8"');
    await expectOAuthError(response, 401, 'invalid_client', 'client authentication failed');
  });
});

describe('response action', () => {
  const yaml = `
rules:
  - id: bad-gateway
    action:
      type: response
      status: 502
      contentType: text/html; charset=utf-8
      body: <html><body><h1>502 Bad Gateway</h1></body></html>
      headers: { X-Upstream: idp-1 }
`;

  it('sends exact HTML body', async () => {
    const { tokenUrl } = await startFromYaml(yaml);

    const response = await postToken(tokenUrl, exchangeBody());

    expect(response.status).toBe(502);
    expect(await response.text()).toBe('<html><body><h1>502 Bad Gateway</h1></body></html>');
  });

  it('sends content type and headers', async () => {
    const { tokenUrl } = await startFromYaml(yaml);

    const response = await postToken(tokenUrl, exchangeBody());

    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('x-upstream')).toBe('idp-1');
    expectNoStore(response);
  });

  it('logs status without error', async () => {
    const { url, tokenUrl } = await startFromYaml(yaml);

    await postToken(tokenUrl, exchangeBody());
    const entry = await lastLogEntry(url);

    expect(entry.rule).toBe('bad-gateway');
    expect(entry.outcome).toEqual({ status: 502 });
  });

  it('sends invalid JSON verbatim', async () => {
    const { tokenUrl } = await startFromYaml(`
rules:
  - id: truncated-json
    action:
      type: response
      status: 200
      contentType: application/json
      body: '{"access_token":"abc","token_type":'
`);

    const response = await postToken(tokenUrl, exchangeBody());

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe('{"access_token":"abc","token_type":');
  });

  it('rejects framing headers', () => {
    expect(() =>
      createServer({
        logLevel: 'silent',
        rules: [
          {
            action: {
              type: 'response',
              status: 200,
              body: 'ok',
              headers: { 'Content-Length': '999' },
            },
          },
        ],
      }),
    ).toThrow(
      'rules[0].action.headers: must not set Content-Length, Transfer-Encoding or Connection',
    );
  });
});

describe('delay action', () => {
  const yaml = `
rules:
  - id: slow-idp
    action: { type: delay, ms: 300 }
`;

  it('delays the normal answer', async () => {
    const { tokenUrl } = await startFromYaml(yaml);

    const started = performance.now();
    const response = await postToken(tokenUrl, exchangeBody());
    const elapsed = performance.now() - started;

    await expectTokenResponse(response);
    // Timers fire no earlier than asked; the margin covers rounding to whole milliseconds.
    expect(elapsed).toBeGreaterThanOrEqual(295);
  });

  it('logs rule with success', async () => {
    const { url, tokenUrl } = await startFromYaml(yaml);

    await postToken(tokenUrl, exchangeBody());
    const entry = await lastLogEntry(url);

    expect(entry.rule).toBe('slow-idp');
    expect(entry.outcome).toEqual({ status: 200 });
  });

  it('ends early on server close', async () => {
    const server = createServer({
      clock: frozenClock(FROZEN_TIME),
      logLevel: 'silent',
      rules: [{ id: 'slow', action: { type: 'delay', ms: 60_000 } }],
    });
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    const pending = postToken(`${url}/oauth2/token`, exchangeBody());
    while (server.context.rules.get('slow')?.fired === 0) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    const started = performance.now();
    await server.close();
    const elapsed = performance.now() - started;
    const response = await pending;

    expect(elapsed).toBeLessThan(2000);
    expect(response.status).toBe(200);
    expect(response.headers.get('connection')).toBe('close');
  });

  it('survives client disconnect', async () => {
    const { url, tokenUrl, logLines } = await startServer({
      rules: [{ id: 'slow', times: 1, action: { type: 'delay', ms: 200 } }],
    });

    await expect(
      fetch(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: exchangeBody(),
        signal: AbortSignal.timeout(50),
      }),
    ).rejects.toThrow(/aborted/i);
    await new Promise((resolve) => setTimeout(resolve, 300));

    await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    expect((await logEntries(url)).map((entry) => entry.rule)).toEqual(['slow', null]);
    expect(logLines().filter((line) => (line.level as number) >= 50)).toEqual([]);
  });
});

describe('close action', () => {
  const yaml = `
rules:
  - id: drop-once
    times: 1
    action: { type: close }
`;

  it('surfaces as network error', async () => {
    const { tokenUrl } = await startFromYaml(yaml);

    const failure = await postToken(tokenUrl, exchangeBody()).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(TypeError);
    expect(String((failure as Error).cause)).toMatch(/other side closed|ECONNRESET|socket/i);
  });

  it('answers normally after once', async () => {
    const { tokenUrl } = await startFromYaml(yaml);

    await postToken(tokenUrl, exchangeBody()).catch(() => undefined);
    const response = await postToken(tokenUrl, exchangeBody());

    await expectTokenResponse(response);
  });

  it('logs closed connection', async () => {
    const { url, tokenUrl } = await startFromYaml(yaml);

    await postToken(tokenUrl, exchangeBody()).catch(() => undefined);
    const entry = await lastLogEntry(url);

    expect(entry.rule).toBe('drop-once');
    expect(entry.outcome).toEqual({ status: 0, detail: 'connection closed by rule drop-once' });
  });

  it('logs no server error', async () => {
    const { tokenUrl, logLines } = await startFromYaml(yaml);

    await postToken(tokenUrl, exchangeBody()).catch(() => undefined);
    await postToken(tokenUrl, exchangeBody());

    expect(logLines().filter((line) => (line.level as number) >= 50)).toEqual([]);
    expect(logLines().filter((line) => line.msg === 'connection closed by rule')).toHaveLength(1);
  });
});

describe('hang action', () => {
  const yaml = `
rules:
  - id: black-hole
    match: { headers: { X-Test-Fault: hang } }
    action: { type: hang }
`;

  function postHanging(tokenUrl: string, signal: AbortSignal): Promise<Response> {
    return fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-test-fault': 'hang' },
      body: exchangeBody(),
      signal,
    });
  }

  it('times out on client', async () => {
    const { tokenUrl } = await startFromYaml(yaml);

    const failure = await postHanging(tokenUrl, AbortSignal.timeout(300)).catch(
      (error: unknown) => error,
    );

    expect((failure as Error).name).toBe('TimeoutError');
  });

  it('logs hanging request', async () => {
    const { url, tokenUrl } = await startFromYaml(yaml);

    await postHanging(tokenUrl, AbortSignal.timeout(200)).catch(() => undefined);
    const entry = await lastLogEntry(url);

    expect(entry.rule).toBe('black-hole');
    expect(entry.outcome).toEqual({ status: 0, detail: 'request left hanging by rule black-hole' });
  });

  it('lets server close promptly', async () => {
    const server = createServer({
      clock: frozenClock(FROZEN_TIME),
      logLevel: 'silent',
      requestTimeout: 60,
      ...(await (async () => {
        const dir = await mkdtemp(join(tmpdir(), 'mtes-rules-'));
        temporaryDirectories.push(dir);
        await writeFile(join(dir, 'config.yaml'), yaml);
        return readConfigFile(join(dir, 'config.yaml'));
      })()),
    });
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    const pending = postHanging(`${url}/oauth2/token`, AbortSignal.timeout(10_000)).catch(
      (error: unknown) => error,
    );
    while (server.requestLog.size === 0) await new Promise((resolve) => setTimeout(resolve, 10));

    const started = performance.now();
    await server.close();
    const elapsed = performance.now() - started;

    expect(elapsed).toBeLessThan(2000);
    expect(await pending).toBeInstanceOf(TypeError);
  });

  it('ignores requests without header', async () => {
    const { tokenUrl } = await startFromYaml(yaml);

    const response = await postToken(tokenUrl, exchangeBody(), { 'x-test-fault': 'other' });

    await expectTokenResponse(response);
  });
});

describe('modify action', () => {
  it('sends expires_in as string', async () => {
    const { tokenUrl } = await startFromYaml(`
rules:
  - id: sloppy-idp
    action: { type: modify, expiresIn: string, tokenType: bearer }
`);

    const body = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));

    expect(body).toEqual({
      access_token: 'exchanged-53a23a852c28f3be-for-api://my-mcp-server',
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'bearer',
      expires_in: '3600',
      scope: 'mcp.tools.read mcp.tools.execute',
    });
  });

  it('omits expires_in and issued_token_type', async () => {
    const { tokenUrl } = await startServer({
      rules: [{ action: { type: 'modify', expiresIn: 'omit', omitIssuedTokenType: true } }],
    });

    const body = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));

    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      scope: 'mcp.tools.read mcp.tools.execute',
    });
  });

  it('replaces expires_in and adds members', async () => {
    const { tokenUrl } = await startServer({
      rules: [
        {
          action: {
            type: 'modify',
            expiresIn: -5,
            addMembers: { refresh_token: 'unexpected', scope: null },
          },
        },
      ],
    });

    const body = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));

    expect(body).toEqual({
      access_token: expect.any(String),
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: -5,
      scope: null,
      refresh_token: 'unexpected',
    });
  });

  const badTokensYaml = `
tokenFormat: jwt
rules:
  - id: expired-token
    match: { audience: api://my-mcp-server }
    action: { type: modify, expired: true }
  - id: wrong-audience
    action: { type: modify, audience: api://someone-else }
`;

  it('issues expired JWT', async () => {
    const { tokenUrl } = await startFromYaml(badTokensYaml, {
      keys: { file: SIGNING_KEYS_FILE, activeKeyId: 'test-es256' },
    });

    const body = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    const claims = decodeJwt(body.access_token as string);

    expect(body.expires_in).toBe(0);
    expect(claims.exp).toBe(FROZEN_SECONDS - 300);
    expect(claims.iat).toBe(FROZEN_SECONDS - 300 - 3600);
  });

  it('indexes expired opaque token', async () => {
    const { url, tokenUrl } = await startServer({
      rules: [{ action: { type: 'modify', expired: true } }],
    });

    const body = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));

    expect(await introspectBody(url, body.access_token as string)).toEqual({ active: false });
  });

  it('keeps expiresIn over expired', async () => {
    const { tokenUrl } = await startServer({
      rules: [{ action: { type: 'modify', expired: true, expiresIn: 3600 } }],
    });

    const body = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));

    expect(body.expires_in).toBe(3600);
  });

  const epochCases: Array<{ clock: string; iat: number; exp: number }> = [
    { clock: '1970-01-01T00:00:00Z', iat: 0, exp: 0 },
    { clock: '1970-01-01T00:00:10Z', iat: 0, exp: 0 },
    { clock: '1970-01-01T00:16:40Z', iat: 0, exp: 700 },
    { clock: '1970-01-01T01:06:40Z', iat: 100, exp: 3700 },
    { clock: '2026-01-01T00:00:00Z', iat: FROZEN_SECONDS - 300 - 3600, exp: FROZEN_SECONDS - 300 },
  ];

  for (const { clock, iat, exp } of epochCases) {
    it(`clamps expired JWT times at ${clock}`, async () => {
      const { url, tokenUrl } = await startServer({
        tokenFormat: 'jwt',
        keys: { file: SIGNING_KEYS_FILE, activeKeyId: 'test-es256' },
        rules: [{ action: { type: 'modify', expired: true } }],
      });
      const frozen = await adminRequest(url, 'POST', '/admin/clock/freeze', { time: clock });
      expect(frozen.status).toBe(200);

      const body = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
      const claims = decodeJwt(body.access_token as string);

      expect(body).toEqual({
        access_token: expect.any(String),
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: 0,
        scope: 'mcp.tools.read mcp.tools.execute',
      });
      expect(claims.iat).toBe(iat);
      expect(claims.exp).toBe(exp);
      expect(await introspectBody(url, body.access_token as string)).toEqual({ active: false });
    });
  }

  it('indexes epoch-expired opaque token', async () => {
    const { url, tokenUrl } = await startServer({
      rules: [{ action: { type: 'modify', expired: true } }],
    });
    const frozen = await adminRequest(url, 'POST', '/admin/clock/freeze', {
      time: '1970-01-01T00:00:00Z',
    });
    expect(frozen.status).toBe(200);

    const body = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));

    expect(body.expires_in).toBe(0);
    expect(await introspectBody(url, body.access_token as string)).toEqual({ active: false });
  });

  it('issues wrong-audience JWT', async () => {
    const { tokenUrl } = await startFromYaml(badTokensYaml, {
      keys: { file: SIGNING_KEYS_FILE, activeKeyId: 'test-es256' },
    });

    const response = await postToken(tokenUrl, exchangeBody({ audience: 'api://orders' }));
    const body = await expectTokenResponse(response);

    expect(decodeJwt(body.access_token as string).aud).toBe('api://someone-else');
  });

  it('issues wrong-audience opaque token', async () => {
    const { url, tokenUrl } = await startServer({
      rules: [{ action: { type: 'modify', audience: 'api://someone-else' } }],
    });

    const body = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    const introspection = (await introspectBody(url, body.access_token as string)) as {
      aud: unknown;
    };

    expect(introspection.aud).toBe('api://someone-else');
  });

  it('modifies client_credentials response', async () => {
    const { tokenUrl } = await startServer({
      rules: [{ action: { type: 'modify', tokenType: 'N_A' } }],
    });

    const body = await expectTokenResponse(await postToken(tokenUrl, CLIENT_CREDENTIALS_BODY));

    expect(body.token_type).toBe('N_A');
  });

  it('keeps grant errors', async () => {
    const { tokenUrl } = await startServer({
      rules: [{ action: { type: 'modify', tokenType: 'N_A' } }],
    });

    const response = await postToken(tokenUrl, exchangeBody({ subject_token: undefined }));

    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'missing required parameter subject_token',
    );
  });
});

describe('rule matching', () => {
  const aliceToken = unsignedJwt({ sub: 'alice', tenant: 'acme', roles: ['admin', 'dev'] });

  const cases: Array<{
    name: string;
    match: RuleInput['match'];
    matching: [string, Record<string, string>?];
    other: [string, Record<string, string>?];
  }> = [
    {
      name: 'grantType',
      match: { grantType: 'client_credentials' },
      matching: [CLIENT_CREDENTIALS_BODY],
      other: [exchangeBody()],
    },
    {
      name: 'clientId in body',
      match: { clientId: 'gw-a' },
      matching: [exchangeBody({ client_id: 'gw-a' })],
      other: [exchangeBody()],
    },
    {
      name: 'clientId in Basic',
      match: { clientId: 'gw a' },
      matching: [
        exchangeBody({ client_id: undefined, client_secret: undefined }),
        { authorization: basicHeader('gw a', 's') },
      ],
      other: [
        exchangeBody({ client_id: undefined, client_secret: undefined }),
        { authorization: basicHeader('gw-b', 's') },
      ],
    },
    {
      name: 'audience',
      match: { audience: 'api://orders' },
      matching: [form([...new URLSearchParams(exchangeBody()), ['audience', 'api://orders']])],
      other: [exchangeBody()],
    },
    {
      name: 'resource',
      match: { resource: 'https://api.example.com/orders' },
      matching: [exchangeBody({ resource: 'https://api.example.com/orders' })],
      other: [exchangeBody({ resource: 'https://api.example.com/billing' })],
    },
    {
      name: 'scope token',
      match: { scope: 'mcp.tools.execute' },
      matching: [exchangeBody()],
      other: [exchangeBody({ scope: 'mcp.tools.read' })],
    },
    {
      name: 'subject',
      match: { subject: 'alice' },
      matching: [exchangeBody({ subject_token: aliceToken })],
      other: [exchangeBody()],
    },
    {
      name: 'claims',
      match: { claims: { tenant: 'acme', roles: ['admin', 'dev'] } },
      matching: [exchangeBody({ subject_token: aliceToken })],
      other: [
        exchangeBody({
          subject_token: unsignedJwt({ sub: 'alice', tenant: 'acme', roles: ['admin'] }),
        }),
      ],
    },
    {
      name: 'header',
      match: { headers: { 'X-Test-Fault': 'on' } },
      matching: [exchangeBody(), { 'x-test-fault': 'on' }],
      other: [exchangeBody(), { 'x-test-fault': 'On' }],
    },
    {
      name: 'all conditions',
      match: { clientId: 'litellm-client', audience: 'api://my-mcp-server', subject: 'user-123' },
      matching: [exchangeBody()],
      other: [exchangeBody({ audience: 'api://orders' })],
    },
  ];

  for (const { name, match, matching, other } of cases) {
    it(`fires on matching ${name}`, async () => {
      const { tokenUrl } = await startServer({ rules: [failWhen(match)] });

      const response = await postToken(tokenUrl, ...matching);

      expect(response.status).toBe(503);
    });

    it(`skips other ${name}`, async () => {
      const { tokenUrl } = await startServer({ rules: [failWhen(match)] });

      const response = await postToken(tokenUrl, ...other);

      expect(response.status).toBe(200);
    });
  }

  it('fires before client authentication', async () => {
    const { tokenUrl } = await startServer({
      clients: [{ clientId: 'litellm-client', clientSecret: 'litellm-secret' }],
      rules: [failWhen({ clientId: 'litellm-client' })],
    });

    const response = await postToken(tokenUrl, exchangeBody({ client_secret: 'wrong' }));

    expect(response.status).toBe(503);
  });

  it('skips malformed bodies', async () => {
    const { server, tokenUrl } = await startServer({ rules: [failWhen({})] });

    const response = await postToken(tokenUrl, exchangeBody(), { 'content-type': 'text/plain' });

    expect(response.status).toBe(400);
    expect(server.context.rules.get('fail')?.fired).toBe(0);
  });

  it('uses first matching rule', async () => {
    const { tokenUrl } = await startServer({
      rules: [
        { match: { audience: 'api://orders' }, action: { type: 'error', error: 'first' } },
        { action: { type: 'error', error: 'second', status: 400 } },
        { action: { type: 'error', error: 'third', status: 400 } },
      ],
    });

    const response = await postToken(tokenUrl, exchangeBody());

    expect(await readJson(response)).toEqual({
      error: 'second',
      error_description: 'the request could not be processed',
    });
  });

  it('falls through spent rules', async () => {
    const { url, tokenUrl } = await startServer({
      rules: [
        { id: 'once', times: 1, action: { type: 'error', error: 'first' } },
        { id: 'twice', times: 2, action: { type: 'error', error: 'second' } },
      ],
    });

    const statuses: Array<string | null> = [];
    for (let i = 0; i < 4; i += 1) await postToken(tokenUrl, exchangeBody());
    for (const entry of await logEntries(url)) statuses.push(entry.rule);

    expect(statuses).toEqual(['once', 'twice', 'twice', null]);
  });

  it('logs null rule otherwise', async () => {
    const { url, tokenUrl } = await startServer({ rules: [failWhen({ clientId: 'other' })] });

    await postToken(tokenUrl, exchangeBody());
    const entry = await lastLogEntry(url);

    expect(entry.rule).toBeNull();
  });
});

describe('claims named __proto__', () => {
  const PROTO_RULE_YAML = `
rules:
  - id: proto-claim
    match:
      claims: { __proto__: x }
    action: { type: error, error: temporarily_unavailable, status: 503 }
`;

  const PROTO_RULE_JSON = JSON.stringify({
    rules: [
      {
        id: 'proto-claim',
        match: { claims: JSON.parse('{"__proto__":"x"}') },
        action: { type: 'error', error: 'temporarily_unavailable', status: 503 },
      },
    ],
  });

  const PROTO_RULE_BODY =
    '{"id":"proto-claim","match":{"claims":{"__proto__":"x"}},' +
    '"action":{"type":"error","error":"temporarily_unavailable","status":503}}';

  /** Subject tokens with whether the rule must fire for them. */
  const subjects: Array<[string, string, boolean]> = [
    ['own __proto__ x', '{"sub":"alice","__proto__":"x"}', true],
    ['own __proto__ y', '{"sub":"alice","__proto__":"y"}', false],
    ['own __proto__ object', '{"sub":"alice","__proto__":{"x":"x"}}', false],
    ['no __proto__', '{"sub":"alice"}', false],
    ['other claim x', '{"sub":"alice","proto":"x"}', false],
  ];

  /** Sends one exchange per subject token and checks that only the expected ones hit the rule. */
  async function expectFiresOnlyForProtoX(tokenUrl: string): Promise<void> {
    for (const [name, claims, fires] of subjects) {
      const body = exchangeBody({ subject_token: unsignedJwtWithClaims(claims) });
      const response = await postToken(tokenUrl, body);
      expect({ name, status: response.status }).toEqual({ name, status: fires ? 503 : 200 });
    }
  }

  it('match from YAML file', async () => {
    const { tokenUrl } = await startFromYaml(PROTO_RULE_YAML);

    await expectFiresOnlyForProtoX(tokenUrl);
  });

  it('match from JSON file', async () => {
    const options = await readConfigText('config.json', PROTO_RULE_JSON);
    const { tokenUrl } = await startServer(options);

    await expectFiresOnlyForProtoX(tokenUrl);
  });

  it('match when added over HTTP', async () => {
    const { url, tokenUrl } = await startServer();

    const added = await adminRequest(url, 'POST', '/admin/rules', PROTO_RULE_BODY);

    expect(added.status).toBe(201);
    expect(await added.text()).toBe(
      '{"id":"proto-claim","match":{"claims":{"__proto__":"x"}},' +
        '"action":{"type":"error","error":"temporarily_unavailable","status":503},"fired":0}',
    );
    await expectFiresOnlyForProtoX(tokenUrl);
  });

  it('match when replaced over HTTP', async () => {
    const { url, tokenUrl } = await startServer({
      rules: [{ id: 'proto-claim', action: { type: 'delay', ms: 0 } }],
    });

    const replaced = await adminRequest(url, 'PUT', '/admin/rules/proto-claim', PROTO_RULE_BODY);

    expect(replaced.status).toBe(200);
    await expectFiresOnlyForProtoX(tokenUrl);
  });

  it('list as own member', async () => {
    const { url } = await startFromYaml(PROTO_RULE_YAML);

    const response = await adminRequest(url, 'GET', '/admin/rules/proto-claim');

    expect(response.status).toBe(200);
    expect(await response.text()).toBe(
      '{"id":"proto-claim","match":{"claims":{"__proto__":"x"}},' +
        '"action":{"type":"error","error":"temporarily_unavailable","status":503},"fired":0}',
    );
  });

  it('reject invalid value in file', async () => {
    const deep = `${'['.repeat(40)}${']'.repeat(40)}`;
    const options = await readConfigText(
      'config.json',
      `{"rules":[{"match":{"claims":{"__proto__":${deep}}},"action":{"type":"close"}}]}`,
    );

    expect(() => createServer(options)).toThrow(
      'invalid configuration:\n' +
        'rules[0].match.claims.__proto__: must nest objects and arrays at most 32 levels deep ' +
        `(received ${deep})`,
    );
  });

  it('reject invalid value over HTTP', async () => {
    const { url } = await startServer();
    const deep = `${'['.repeat(40)}${']'.repeat(40)}`;

    const response = await adminRequest(
      url,
      'POST',
      '/admin/rules',
      `{"match":{"claims":{"__proto__":${deep}}},"action":{"type":"close"}}`,
    );

    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'match.claims.__proto__: must nest objects and arrays at most 32 levels deep',
    );
  });

  it('stay unknown fields elsewhere', async () => {
    const { url } = await startServer();

    const response = await adminRequest(
      url,
      'POST',
      '/admin/rules',
      '{"__proto__":{"times":1},"match":{"__proto__":{}},"action":{"type":"close"}}',
    );

    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'match.__proto__: unknown field; __proto__: unknown field',
    );
  });

  it('reject header names in file', async () => {
    const options = await readConfigText(
      'config.yaml',
      `
rules:
  - match: { headers: { __proto__: x } }
    action: { type: error, error: slow_down, headers: { __proto__: x } }
`,
    );

    expect(() => createServer(options)).toThrow(
      'invalid configuration:\n' +
        'rules[0].match.headers.__proto__: is not a header name that a rule can match or send ' +
        '(received "x")\n' +
        'rules[0].action.headers.__proto__: is not a header name that a rule can match or send ' +
        '(received "x")',
    );
  });

  it('reject header names over HTTP', async () => {
    const { url } = await startServer();

    const response = await adminRequest(
      url,
      'POST',
      '/admin/rules',
      '{"match":{"headers":{"__proto__":"x"}},"action":{"type":"close"}}',
    );

    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'match.headers.__proto__: is not a header name that a rule can match or send',
    );
  });

  it('add response member', async () => {
    const { url, tokenUrl } = await startServer();
    const added = await adminRequest(
      url,
      'POST',
      '/admin/rules',
      '{"action":{"type":"modify","expiresIn":"omit","addMembers":{"__proto__":"x"}}}',
    );
    expect(added.status).toBe(201);

    const response = await postToken(tokenUrl, exchangeBody());

    expect(response.status).toBe(200);
    expect(await response.text()).toBe(
      '{"access_token":"exchanged-53a23a852c28f3be-for-api://my-mcp-server",' +
        `"issued_token_type":"${ACCESS_TOKEN_TYPE}","token_type":"Bearer",` +
        '"scope":"mcp.tools.read mcp.tools.execute","__proto__":"x"}',
    );
  });
});
