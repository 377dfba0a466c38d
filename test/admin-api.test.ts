import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { ExchangeCounters } from '../src/control/counters.js';
import type { CountedExchange } from '../src/request-log/record.js';
import { createServer } from '../src/server.js';
import {
  exchangeBody,
  FROZEN_TIME,
  postToken,
  startServer,
  UNSIGNED_USER_JWT,
  unsignedJwt,
} from './helpers.js';
import { sendRawRequest } from './raw-request.js';
import { SIGNING_KEYS_FILE } from './subject-tokens.js';
import { expectOAuthError, expectTokenResponse, readJson } from './token-assertions.js';

const ADMIN_TOKEN = 'admin-secret-token';

/** Sends a JSON request to the control API and returns the response. */
function adminRequest(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${url}${path}`, {
    method,
    headers: {
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
}

/** Sends a control API request that must succeed with `status` and returns its JSON body. */
async function adminJson(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  status = 200,
): Promise<unknown> {
  const response = await adminRequest(url, method, path, body);
  expect(response.status).toBe(status);
  return readJson(response);
}

const UNAVAILABLE_RULE = {
  action: {
    type: 'error',
    error: 'temporarily_unavailable',
    description: 'maintenance',
    status: 503,
  },
};

const STORED_UNAVAILABLE_RULE = {
  id: 'rule-1',
  match: {},
  action: {
    type: 'error',
    error: 'temporarily_unavailable',
    description: 'maintenance',
    status: 503,
  },
  fired: 0,
};

describe('rules over HTTP', () => {
  it('lists no rules by default', async () => {
    const { url } = await startServer();
    expect(await adminJson(url, 'GET', '/admin/rules')).toEqual({ rules: [] });
  });

  it('stores a posted rule with id', async () => {
    const { url } = await startServer();
    const stored = await adminJson(url, 'POST', '/admin/rules', UNAVAILABLE_RULE, 201);
    expect(stored).toEqual(STORED_UNAVAILABLE_RULE);
    expect(await adminJson(url, 'GET', '/admin/rules')).toEqual({
      rules: [STORED_UNAVAILABLE_RULE],
    });
  });

  it('applies added rule to next request', async () => {
    const { url, tokenUrl } = await startServer();
    await adminJson(url, 'POST', '/admin/rules', UNAVAILABLE_RULE, 201);
    const response = await postToken(tokenUrl, exchangeBody());
    await expectOAuthError(response, 503, 'temporarily_unavailable', 'maintenance');
    const listed = (await adminJson(url, 'GET', '/admin/rules')) as { rules: { fired: number }[] };
    expect(listed.rules[0]?.fired).toBe(1);
  });

  it('inserts rule at given position', async () => {
    const { url } = await startServer();
    await adminJson(url, 'POST', '/admin/rules', { id: 'a', action: { type: 'close' } }, 201);
    await adminJson(url, 'POST', '/admin/rules', { id: 'b', action: { type: 'close' } }, 201);
    await adminJson(
      url,
      'POST',
      '/admin/rules?position=1',
      { id: 'c', action: { type: 'hang' } },
      201,
    );
    const listed = (await adminJson(url, 'GET', '/admin/rules')) as { rules: { id: string }[] };
    expect(listed.rules.map((rule) => rule.id)).toEqual(['a', 'c', 'b']);
  });

  it('reads one rule by id', async () => {
    const { url } = await startServer();
    await adminJson(url, 'POST', '/admin/rules', UNAVAILABLE_RULE, 201);
    expect(await adminJson(url, 'GET', '/admin/rules/rule-1')).toEqual(STORED_UNAVAILABLE_RULE);
  });

  it('replaces rule keeping its position', async () => {
    const { url } = await startServer();
    await adminJson(url, 'POST', '/admin/rules', { id: 'a', action: { type: 'close' } }, 201);
    await adminJson(url, 'POST', '/admin/rules', { id: 'b', action: { type: 'close' } }, 201);
    const replaced = await adminJson(url, 'PUT', '/admin/rules/a', {
      action: { type: 'delay', ms: 5 },
      times: 2,
    });
    expect(replaced).toEqual({
      id: 'a',
      match: {},
      action: { type: 'delay', ms: 5 },
      times: 2,
      fired: 0,
    });
    const listed = (await adminJson(url, 'GET', '/admin/rules')) as { rules: { id: string }[] };
    expect(listed.rules.map((rule) => rule.id)).toEqual(['a', 'b']);
  });

  it('replacing unknown rule returns 404', async () => {
    const { url } = await startServer();
    const response = await adminRequest(url, 'PUT', '/admin/rules/nope', UNAVAILABLE_RULE);
    await expectOAuthError(response, 404, 'not_found', 'no rule with id nope');
  });

  it('replacing with another id is rejected', async () => {
    const { url } = await startServer();
    await adminJson(url, 'POST', '/admin/rules', { id: 'a', action: { type: 'close' } }, 201);
    const response = await adminRequest(url, 'PUT', '/admin/rules/a', {
      id: 'b',
      action: { type: 'close' },
    });
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'id: must be absent or equal to the id of the replaced rule',
    );
  });

  it('deletes rule by id', async () => {
    const { url } = await startServer();
    await adminJson(url, 'POST', '/admin/rules', UNAVAILABLE_RULE, 201);
    expect(await adminJson(url, 'DELETE', '/admin/rules/rule-1')).toEqual({ deleted: 'rule-1' });
    expect(await adminJson(url, 'GET', '/admin/rules')).toEqual({ rules: [] });
  });

  it('deleting unknown rule returns 404', async () => {
    const { url } = await startServer();
    const response = await adminRequest(url, 'DELETE', '/admin/rules/rule-9');
    await expectOAuthError(response, 404, 'not_found', 'no rule with id rule-9');
  });

  it('delete all restores configured rules', async () => {
    const configured = { id: 'configured', action: { type: 'close' } } as const;
    const { url } = await startServer({ rules: [configured] });
    await adminJson(url, 'DELETE', '/admin/rules/configured');
    await adminJson(url, 'POST', '/admin/rules', UNAVAILABLE_RULE, 201);
    expect(await adminJson(url, 'DELETE', '/admin/rules')).toEqual({
      rules: [{ id: 'configured', match: {}, action: { type: 'close' }, fired: 0 }],
    });
  });

  it('rejects duplicate rule id', async () => {
    const { url } = await startServer();
    await adminJson(url, 'POST', '/admin/rules', { id: 'a', action: { type: 'close' } }, 201);
    const response = await adminRequest(url, 'POST', '/admin/rules', {
      id: 'a',
      action: { type: 'hang' },
    });
    await expectOAuthError(response, 400, 'invalid_request', 'a rule with id a already exists');
  });

  it('rejects position past the end', async () => {
    const { url } = await startServer();
    const response = await adminRequest(url, 'POST', '/admin/rules?position=1', UNAVAILABLE_RULE);
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'position: must be at most 0, the number of rules',
    );
  });

  it('rejects malformed position', async () => {
    const { url } = await startServer();
    const response = await adminRequest(url, 'POST', '/admin/rules?position=-1', UNAVAILABLE_RULE);
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'position: must be a whole number from 0',
    );
  });

  it('rejects unknown query parameter', async () => {
    const { url } = await startServer();
    const response = await adminRequest(url, 'POST', '/admin/rules?first=1', UNAVAILABLE_RULE);
    await expectOAuthError(response, 400, 'invalid_request', 'first: unknown field');
  });
});

describe('rule validation errors', () => {
  const cases: Array<[string, unknown, string]> = [
    [
      'unknown action type',
      { action: { type: 'explode' } },
      'action.type: must be one of error, response, delay, close, hang, modify',
    ],
    ['missing action', { match: {} }, 'action: is required'],
    [
      'status below range',
      { action: { type: 'error', error: 'x', status: 200 } },
      'action.status: must be at least 400',
    ],
    [
      'wrong match type',
      { match: { clientId: 3 }, action: { type: 'close' } },
      'match.clientId: must be a string',
    ],
    ['unknown field', { action: { type: 'close' }, extra: 1 }, 'extra: unknown field'],
    [
      'invalid id characters',
      { id: 'a b', action: { type: 'close' } },
      'id: must be 1 to 64 of A-Z a-z 0-9 . _ ~ -, not only dots',
    ],
    [
      'dot-only id',
      { id: '..', action: { type: 'close' } },
      'id: must be 1 to 64 of A-Z a-z 0-9 . _ ~ -, not only dots',
    ],
    [
      'CRLF in header value',
      { action: { type: 'response', status: 200, headers: { 'X-A': 'a\r\nSet-Cookie: e=1' } } },
      'action.headers.X-A: must be visible ASCII, spaces and tabs, without CR or LF',
    ],
    [
      'framing header on error',
      { action: { type: 'error', error: 'x', headers: { 'Transfer-Encoding': 'chunked' } } },
      'action.headers: must not set Content-Length, Transfer-Encoding or Connection',
    ],
    [
      'CRLF in content type',
      { action: { type: 'response', status: 200, contentType: 'text/plain\r\nX: 1' } },
      'action.contentType: must be visible ASCII, spaces and tabs, without CR or LF',
    ],
    [
      'deeply nested added member',
      {
        action: {
          type: 'modify',
          addMembers: { deep: JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`) },
        },
      },
      'action.addMembers.deep: must nest objects and arrays at most 32 levels deep',
    ],
    [
      'two problems at once',
      { action: { type: 'error' }, times: 0 },
      'action.error: is required; times: must be at least 1',
    ],
  ];

  for (const [name, rule, description] of cases) {
    it(`names field for ${name}`, async () => {
      const { url } = await startServer();
      const response = await adminRequest(url, 'POST', '/admin/rules', rule);
      await expectOAuthError(response, 400, 'invalid_request', description);
    });
  }

  it('rejects JSON array body', async () => {
    const { url } = await startServer();
    const response = await adminRequest(url, 'POST', '/admin/rules', [UNAVAILABLE_RULE]);
    await expectOAuthError(response, 400, 'invalid_request', 'request body must be a JSON object');
  });

  it('rejects form-encoded body', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/admin/rules`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'action=close',
    });
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'request body must be application/json',
    );
  });

  it('rejects malformed JSON body', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/admin/rules`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"action":',
    });
    await expectOAuthError(response, 400, 'invalid_request', 'request body is not valid JSON');
  });
});

describe('control API routing', () => {
  it('reset rejects a form body', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/admin/reset`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'all=1',
    });
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'request body must be application/json',
    );
  });

  it('wrong method on rules path', async () => {
    const { url } = await startServer();
    const response = await adminRequest(url, 'PUT', '/admin/rules');
    expect(response.headers.get('allow')).toBe('GET, HEAD, POST, DELETE');
    await expectOAuthError(
      response,
      405,
      'invalid_request',
      'method not allowed, use GET or HEAD or POST or DELETE',
    );
  });

  it('wrong method on rule id path', async () => {
    const { url } = await startServer();
    const response = await adminRequest(url, 'PATCH', '/admin/rules/rule-1');
    expect(response.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE');
    await expectOAuthError(
      response,
      405,
      'invalid_request',
      'method not allowed, use GET or HEAD or PUT or DELETE',
    );
  });

  it('wrong method on clock freeze', async () => {
    const { url } = await startServer();
    const response = await adminRequest(url, 'GET', '/admin/clock/freeze');
    expect(response.headers.get('allow')).toBe('POST');
    await expectOAuthError(response, 405, 'invalid_request', 'method not allowed, use POST');
  });

  it('unknown admin path returns 404', async () => {
    const { url } = await startServer();
    const response = await adminRequest(url, 'GET', '/admin/nothing');
    await expectOAuthError(response, 404, 'not_found', 'no route for GET /admin/nothing');
  });
});

describe('empty JSON bodies on control API', () => {
  const FROZEN_ISO = '2026-01-01T00:00:00.000Z';
  const KEPT_RULE = { id: 'kept', action: { type: 'close' } } as const;

  /** Ways of sending a request without body content, each named for the test title. */
  const framings: Array<
    [string, (url: string, method: string, path: string) => Promise<Response>]
  > = [
    ['no body', (url, method, path) => sendRawRequest(url, method, path, [])],
    [
      'JSON type without length',
      (url, method, path) => sendRawRequest(url, method, path, ['Content-Type: application/json']),
    ],
    [
      'JSON type with length 0',
      (url, method, path) =>
        sendRawRequest(url, method, path, ['Content-Type: application/json', 'Content-Length: 0']),
    ],
    [
      'empty chunked JSON',
      (url, method, path) =>
        sendRawRequest(
          url,
          method,
          path,
          ['Content-Type: application/json; charset=utf-8', 'Transfer-Encoding: chunked'],
          '0\r\n\r\n',
        ),
    ],
    [
      'empty chunked text',
      (url, method, path) =>
        sendRawRequest(
          url,
          method,
          path,
          ['Content-Type: text/plain', 'Transfer-Encoding: chunked'],
          '0\r\n\r\n',
        ),
    ],
    [
      'empty chunked, no type',
      (url, method, path) =>
        sendRawRequest(url, method, path, ['Transfer-Encoding: chunked'], '0\r\n\r\n'),
    ],
    [
      'malformed type, length 0',
      (url, method, path) =>
        sendRawRequest(url, method, path, ['Content-Type: ;;;', 'Content-Length: 0']),
    ],
    [
      'fetch with empty string',
      (url, method, path) =>
        fetch(`${url}${path}`, {
          method,
          headers: { 'content-type': 'application/json' },
          body: '',
        }),
    ],
  ];

  const routes: Array<[string, string, number, unknown]> = [
    ['POST', '/admin/clock/freeze', 200, { now: FROZEN_ISO, frozen: true }],
    ['POST', '/admin/clock/release', 200, { now: FROZEN_ISO, frozen: false }],
    [
      'POST',
      '/admin/reset',
      200,
      {
        rules: [{ ...KEPT_RULE, match: {}, fired: 0 }],
        clock: { now: FROZEN_ISO, frozen: false },
        removedLogEntries: 0,
      },
    ],
    [
      'POST',
      '/admin/clock/advance',
      400,
      { error: 'invalid_request', error_description: 'seconds: is required' },
    ],
    [
      'POST',
      '/admin/rules',
      400,
      { error: 'invalid_request', error_description: 'action: is required' },
    ],
    [
      'PUT',
      '/admin/rules/kept',
      400,
      { error: 'invalid_request', error_description: 'action: is required' },
    ],
  ];

  for (const [method, path, status, expected] of routes) {
    for (const [framing, send] of framings) {
      it(`${method} ${path} with ${framing}`, async () => {
        const { url } = await startServer({ rules: [KEPT_RULE] });
        const response = await send(url, method, path);
        expect(response.status).toBe(status);
        expect(await readJson(response)).toEqual(expected);
      });
    }
  }

  it('reset ignores empty form body', async () => {
    const { url } = await startServer();
    const response = await sendRawRequest(url, 'POST', '/admin/reset', [
      'Content-Type: application/x-www-form-urlencoded',
      'Content-Length: 0',
    ]);
    expect(response.status).toBe(200);
    expect(await readJson(response)).toEqual({
      rules: [],
      clock: { now: FROZEN_ISO, frozen: false },
      removedLogEntries: 0,
    });
  });

  it('chunked text body is rejected', async () => {
    const { url } = await startServer();
    const response = await sendRawRequest(
      url,
      'POST',
      '/admin/clock/freeze',
      ['Content-Type: text/plain', 'Transfer-Encoding: chunked'],
      '2\r\nhi\r\n0\r\n\r\n',
    );
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'request body must be application/json',
    );
  });

  it('JSON body of invalid UTF-8 is rejected', async () => {
    const { url } = await startServer();
    const body = Buffer.concat([
      Buffer.from('{"action":{"type":"close"},"match":{"claims":{"name":"Jos'),
      Buffer.of(0xe9),
      Buffer.from('"}}}'),
    ]);
    const response = await fetch(`${url}/admin/rules`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    await expectOAuthError(response, 400, 'invalid_request', 'request body is not valid UTF-8');
    expect(await adminJson(url, 'GET', '/admin/rules')).toEqual({ rules: [] });
  });

  it('whitespace-only JSON body is rejected', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/admin/clock/freeze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: ' ',
    });
    await expectOAuthError(response, 400, 'invalid_request', 'request body is not valid JSON');
  });
});

describe('reset over HTTP', () => {
  it('removes added rule', async () => {
    const { url, tokenUrl } = await startServer();
    await adminJson(url, 'POST', '/admin/rules', UNAVAILABLE_RULE, 201);
    await adminJson(url, 'POST', '/admin/reset');
    await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
  });

  it('clears counters, log and clock', async () => {
    const { url, tokenUrl } = await startServer({
      rules: [{ id: 'kept', action: { type: 'close' }, match: { clientId: 'nobody' } }],
    });
    await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    await adminJson(url, 'POST', '/admin/clock/freeze', { time: '2030-05-01T12:00:00Z' });
    expect(await adminJson(url, 'POST', '/admin/reset')).toEqual({
      rules: [{ id: 'kept', match: { clientId: 'nobody' }, action: { type: 'close' }, fired: 0 }],
      clock: { now: '2026-01-01T00:00:00.000Z', frozen: false },
      removedLogEntries: 1,
    });
    const counts = (await adminJson(url, 'GET', '/admin/counters')) as { total: number };
    expect(counts.total).toBe(0);
  });
});

describe('clock over HTTP', () => {
  const jwtOptions = { tokenFormat: 'jwt' as const, keys: { file: SIGNING_KEYS_FILE } };

  async function issuedAt(tokenUrl: string): Promise<number | undefined> {
    const json = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    return decodeJwt(json.access_token as string).iat;
  }

  it('reads the base clock', async () => {
    const { url } = await startServer();
    expect(await adminJson(url, 'GET', '/admin/clock')).toEqual({
      now: '2026-01-01T00:00:00.000Z',
      frozen: false,
    });
  });

  it('freeze sets issued iat', async () => {
    const { url, tokenUrl } = await startServer(jwtOptions);
    expect(
      await adminJson(url, 'POST', '/admin/clock/freeze', { time: '2030-05-01T12:00:00Z' }),
    ).toEqual({ now: '2030-05-01T12:00:00.000Z', frozen: true });
    expect(await issuedAt(tokenUrl)).toBe(Date.UTC(2030, 4, 1, 12) / 1000);
  });

  it('freeze without body keeps time', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/admin/clock/freeze`, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(await readJson(response)).toEqual({ now: '2026-01-01T00:00:00.000Z', frozen: true });
  });

  it('advance moves issued iat', async () => {
    const { url, tokenUrl } = await startServer(jwtOptions);
    expect(await adminJson(url, 'POST', '/admin/clock/advance', { seconds: 90 })).toEqual({
      now: '2026-01-01T00:01:30.000Z',
      frozen: false,
    });
    expect(await issuedAt(tokenUrl)).toBe(FROZEN_TIME / 1000 + 90);
  });

  it('advance accepts negative seconds', async () => {
    const { url, tokenUrl } = await startServer(jwtOptions);
    await adminJson(url, 'POST', '/admin/clock/freeze');
    await adminJson(url, 'POST', '/admin/clock/advance', { seconds: -3600 });
    expect(await issuedAt(tokenUrl)).toBe(FROZEN_TIME / 1000 - 3600);
  });

  it('release returns to base clock', async () => {
    const { url, tokenUrl } = await startServer(jwtOptions);
    await adminJson(url, 'POST', '/admin/clock/freeze', { time: '2030-05-01T12:00:00Z' });
    await adminJson(url, 'POST', '/admin/clock/advance', { seconds: 10 });
    expect(await adminJson(url, 'POST', '/admin/clock/release')).toEqual({
      now: '2026-01-01T00:00:00.000Z',
      frozen: false,
    });
    expect(await issuedAt(tokenUrl)).toBe(FROZEN_TIME / 1000);
  });

  const invalid: Array<[string, string, unknown, string]> = [
    [
      'freeze with invalid time',
      '/admin/clock/freeze',
      { time: 'tomorrow' },
      'time: must be an ISO 8601 date and time with an offset, such as 2026-01-01T00:00:00Z',
    ],
    ['freeze with unknown field', '/admin/clock/freeze', { at: 1 }, 'at: unknown field'],
    ['advance without seconds', '/admin/clock/advance', {}, 'seconds: is required'],
    ['advance with string', '/admin/clock/advance', { seconds: '5' }, 'seconds: must be a number'],
    [
      'advance before 1970',
      '/admin/clock/advance',
      { seconds: -2e9 },
      'seconds: would move the clock outside 1970-01-01 to 9999-12-31',
    ],
  ];

  for (const [name, path, body, description] of invalid) {
    it(`rejects ${name}`, async () => {
      const { url } = await startServer();
      const response = await adminRequest(url, 'POST', path, body);
      await expectOAuthError(response, 400, 'invalid_request', description);
    });
  }
});

describe('counters over HTTP', () => {
  it('count successes per key', async () => {
    const { url, tokenUrl } = await startServer();
    const alice = unsignedJwt({ sub: 'alice' });
    await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    await expectTokenResponse(
      await postToken(
        tokenUrl,
        exchangeBody({
          subject_token: alice,
          client_id: 'other-client',
          audience: 'api://other',
          resource: 'https://rs.example/api',
        }),
      ),
    );
    // A failed request is not counted.
    await postToken(tokenUrl, exchangeBody({ subject_token_type: undefined }));
    expect(await adminJson(url, 'GET', '/admin/counters')).toEqual({
      total: 3,
      byClient: { 'litellm-client': 2, 'other-client': 1 },
      bySubject: { 'user-123': 2, alice: 1 },
      byAudience: { 'api://my-mcp-server': 2, 'api://other': 1 },
      byResource: { 'https://rs.example/api': 1 },
      droppedKeys: 0,
    });
  });

  it('not counted when rule fails request', async () => {
    const { url, tokenUrl } = await startServer();
    await adminJson(url, 'POST', '/admin/rules', UNAVAILABLE_RULE, 201);
    await postToken(tokenUrl, exchangeBody());
    const counts = (await adminJson(url, 'GET', '/admin/counters')) as { total: number };
    expect(counts.total).toBe(0);
  });

  it('delete clears the counters', async () => {
    const { url, tokenUrl } = await startServer();
    await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    expect(await adminJson(url, 'DELETE', '/admin/counters')).toEqual({
      total: 0,
      byClient: {},
      bySubject: {},
      byAudience: {},
      byResource: {},
      droppedKeys: 0,
    });
  });
});

describe('counter bound', () => {
  function exchange(clientId: string): CountedExchange {
    return { clientId, subject: null, audiences: [], resources: [] };
  }

  it('drops the oldest key', () => {
    const counters = new ExchangeCounters(2);
    counters.record(exchange('first'));
    counters.record(exchange('second'));
    counters.record(exchange('second'));
    counters.record(exchange('third'));
    const counts = counters.snapshot();
    expect({ ...counts.byClient }).toEqual({ second: 2, third: 1 });
    expect(counts.droppedKeys).toBe(1);
    expect(counts.total).toBe(4);
  });
});

describe('admin token on control API', () => {
  const routes: Array<[string, string, unknown?]> = [
    ['GET', '/admin/rules'],
    ['POST', '/admin/rules', UNAVAILABLE_RULE],
    ['DELETE', '/admin/rules'],
    ['GET', '/admin/rules/rule-1'],
    ['PUT', '/admin/rules/rule-1', UNAVAILABLE_RULE],
    ['DELETE', '/admin/rules/rule-1'],
    ['PATCH', '/admin/rules/rule-1'],
    ['GET', '/admin/clock'],
    ['POST', '/admin/clock/freeze'],
    ['POST', '/admin/clock/advance', { seconds: 1 }],
    ['POST', '/admin/clock/release'],
    ['GET', '/admin/counters'],
    ['DELETE', '/admin/counters'],
    ['POST', '/admin/reset'],
  ];

  for (const [method, path, body] of routes) {
    it(`${method} ${path} requires token`, async () => {
      const { url } = await startServer({ adminToken: ADMIN_TOKEN });
      const response = await adminRequest(url, method, path, body);
      // RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
      expect(response.headers.get('www-authenticate')).toBe(
        'Bearer realm="mock-token-exchange-server"',
      );
      await expectOAuthError(
        response,
        401,
        'invalid_token',
        'the admin token is required as a Bearer token',
      );
    });
  }

  it('accepts the configured token', async () => {
    const { url } = await startServer({ adminToken: ADMIN_TOKEN });
    const response = await adminRequest(url, 'GET', '/admin/rules', undefined, {
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect(response.status).toBe(200);
    expect(await readJson(response)).toEqual({ rules: [] });
  });

  it('rejects a wrong token', async () => {
    const { url } = await startServer({ adminToken: ADMIN_TOKEN });
    const response = await adminRequest(url, 'POST', '/admin/reset', undefined, {
      authorization: 'Bearer wrong',
    });
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="mock-token-exchange-server", error="invalid_token"',
    );
    await expectOAuthError(response, 401, 'invalid_token', 'the admin token is not valid');
  });

  it('rejects Basic credentials without error code', async () => {
    const { url } = await startServer({ adminToken: ADMIN_TOKEN });
    const basic = `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`;
    const response = await adminRequest(url, 'GET', '/admin/rules', undefined, {
      authorization: basic,
    });
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="mock-token-exchange-server"',
    );
    await expectOAuthError(
      response,
      401,
      'invalid_token',
      'the admin token is required as a Bearer token',
    );
  });

  it('rejects two Authorization headers', async () => {
    const { url } = await startServer({ adminToken: ADMIN_TOKEN });
    // Node.js keeps only the first header; the second would otherwise go unseen.
    const response = await sendRawRequest(url, 'GET', '/admin/rules', [
      `Authorization: Bearer ${ADMIN_TOKEN}`,
      'Authorization: Bearer wrong',
    ]);
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="mock-token-exchange-server", error="invalid_token"',
    );
    await expectOAuthError(
      response,
      401,
      'invalid_token',
      'the admin token is required as a Bearer token',
    );
  });

  it('rejects malformed Bearer header with error code', async () => {
    const { url } = await startServer({ adminToken: ADMIN_TOKEN });
    const response = await adminRequest(url, 'GET', '/admin/rules', undefined, {
      authorization: `Bearer ${ADMIN_TOKEN} ${ADMIN_TOKEN}`,
    });
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="mock-token-exchange-server", error="invalid_token"',
    );
    await expectOAuthError(
      response,
      401,
      'invalid_token',
      'the admin token is required as a Bearer token',
    );
  });

  it('warns when control API is open', async () => {
    const { logLines } = await startServer();
    const messages = logLines().map((line) => line.msg);
    expect(messages).toContain(
      'no admin token configured: /log and the control API under /admin are open to every caller',
    );
  });
});

describe('programmatic control API', () => {
  it('adds and lists rules', async () => {
    const { server, tokenUrl } = await startServer();
    const added = server.rules.add(UNAVAILABLE_RULE as never);
    expect(added).toEqual(STORED_UNAVAILABLE_RULE);
    const response = await postToken(tokenUrl, exchangeBody());
    await expectOAuthError(response, 503, 'temporarily_unavailable', 'maintenance');
    expect(server.rules.list()).toEqual([{ ...STORED_UNAVAILABLE_RULE, fired: 1 }]);
  });

  it('add rejects an invalid rule', async () => {
    const { server } = await startServer();
    expect(() => server.rules.add({ action: { type: 'explode' } } as never)).toThrow(
      'action.type: must be one of error, response, delay, close, hang, modify',
    );
  });

  it('replaces and deletes rules', async () => {
    const { server } = await startServer();
    server.rules.add({ id: 'a', action: { type: 'close' } });
    expect(server.rules.replace('a', { action: { type: 'hang' } })).toEqual({
      id: 'a',
      match: {},
      action: { type: 'hang' },
      fired: 0,
    });
    expect(server.rules.replace('missing', { action: { type: 'hang' } })).toBeUndefined();
    expect(server.rules.delete('a')).toBe(true);
    expect(server.rules.delete('a')).toBe(false);
  });

  it('clock changes issued iat', async () => {
    const { server, tokenUrl } = await startServer({
      tokenFormat: 'jwt',
      keys: { file: SIGNING_KEYS_FILE },
    });
    server.clock.freeze('2030-05-01T12:00:00Z');
    server.clock.advance(30);
    expect(server.clock.now().toISOString()).toBe('2030-05-01T12:00:30.000Z');
    expect(server.clock.frozen).toBe(true);
    const json = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    expect(decodeJwt(json.access_token as string).iat).toBe(Date.UTC(2030, 4, 1, 12, 0, 30) / 1000);
  });

  it('freeze rejects an invalid time', async () => {
    const { server } = await startServer();
    expect(() => server.clock.freeze('soon')).toThrow(
      'time: must be an ISO 8601 date and time with an offset, such as 2026-01-01T00:00:00Z',
    );
  });

  it('counters and reset', async () => {
    const { server, tokenUrl } = await startServer();
    server.rules.add({ action: { type: 'close' }, match: { clientId: 'nobody' } });
    server.clock.advance(60);
    await expectTokenResponse(
      await postToken(tokenUrl, exchangeBody({ subject_token: UNSIGNED_USER_JWT })),
    );
    expect(server.counters().total).toBe(1);
    expect(server.reset()).toEqual({ removedLogEntries: 1 });
    expect(server.counters().total).toBe(0);
    expect(server.rules.list()).toEqual([]);
    expect(server.clock.now().getTime()).toBe(FROZEN_TIME);
    expect(server.requestLog.query({}).entries).toEqual([]);
  });
});

describe('configured rule ids', () => {
  it('duplicate configured id is a config error', () => {
    expect(() =>
      createServer({
        logLevel: 'silent',
        rules: [
          { id: 'x', action: { type: 'close' } },
          { id: 'x', action: { type: 'hang' } },
        ],
      }),
    ).toThrow('rules[1].id: duplicate rule id (received "x")');
  });

  it('generated id skips configured ids', () => {
    const server = createServer({
      logLevel: 'silent',
      rules: [{ action: { type: 'close' } }, { id: 'rule-1', action: { type: 'hang' } }],
    });
    const ids = server.rules.list().map((entry) => entry.id);
    expect(ids).toEqual(['rule-2', 'rule-1']);
  });
});
