import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { ACCESS_TOKEN_TYPE, exchangeBody, form, postToken, startServer } from './helpers.js';
import {
  ERROR_TEXT,
  expectOAuthError,
  expectTokenResponse,
  issueToken,
  lastLogEntry,
} from './token-assertions.js';

/** Token issued for `exchangeBody()` by client `litellm-client`. */
const README_TOKEN = 'exchanged-53a23a852c28f3be-for-api://my-mcp-server';

const FORM = 'application/x-www-form-urlencoded';

/** A valid exchange without audience or scope, percent-encoded by hand. */
const RAW_BASE =
  'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange' +
  '&subject_token=user-jwt-abc' +
  '&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token' +
  '&client_id=litellm-client';

/** The pairs of `exchangeBody()`, for tests that repeat or reorder parameters. */
const BASE_PAIRS: Array<[string, string]> = [...new URLSearchParams(exchangeBody()).entries()];

/** Pads `exchangeBody()` with an unknown parameter to exactly `length` bytes. */
function bodyOfLength(length: number): string {
  const prefix = `${exchangeBody()}&padding=`;
  return prefix + 'a'.repeat(length - prefix.length);
}

/** Sends a GET with a request target that `fetch` would normalize, such as one with a quote. */
function rawGet(url: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'GET', path }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('token endpoint methods', () => {
  it('GET returns 405 with Allow', async () => {
    const { tokenUrl } = await startServer();
    const response = await fetch(tokenUrl);
    expect(response.headers.get('allow')).toBe('POST');
    await expectOAuthError(response, 405, 'invalid_request', 'method not allowed, use POST');
  });

  it.each(['PUT', 'DELETE', 'PATCH', 'OPTIONS'])('%s returns 405 with Allow', async (method) => {
    const { tokenUrl } = await startServer();
    const response = await fetch(tokenUrl, {
      method,
      headers: { 'content-type': FORM },
      body: exchangeBody(),
    });
    expect(response.headers.get('allow')).toBe('POST');
    await expectOAuthError(response, 405, 'invalid_request', 'method not allowed, use POST');
  });
});

describe('token endpoint content type', () => {
  const wrongType = 'request body must be application/x-www-form-urlencoded';

  it('rejects a JSON body', async () => {
    const { tokenUrl } = await startServer();
    const json = JSON.stringify(Object.fromEntries(BASE_PAIRS));
    const response = await postToken(tokenUrl, json, { 'content-type': 'application/json' });
    await expectOAuthError(response, 400, 'invalid_request', wrongType);
  });

  it('rejects a missing content type', async () => {
    const { url, tokenUrl } = await startServer();
    // fetch sends no Content-Type for a byte array body.
    const response = await fetch(tokenUrl, {
      method: 'POST',
      body: new TextEncoder().encode(exchangeBody()),
    });
    await expectOAuthError(response, 400, 'invalid_request', wrongType);
    expect((await lastLogEntry(url)).outcome.detail).toBe('Content-Type was missing');
  });

  it('rejects a text/plain body', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody(), { 'content-type': 'text/plain' });
    await expectOAuthError(response, 400, 'invalid_request', wrongType);
  });

  it.each([
    'application/x-www-form-urlencoded;charset=UTF-8',
    'Application/X-WWW-Form-Urlencoded; charset=utf-8',
  ])('accepts %s', async (contentType) => {
    const { tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody(), { 'content-type': contentType });
    expect(token).toBe(README_TOKEN);
  });
});

describe('token endpoint form decoding', () => {
  // RFC 6749 Appendix B: the body is application/x-www-form-urlencoded over UTF-8.
  it('decodes plus and %3A in scope', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, `${RAW_BASE}&scope=mcp%3Aread+mcp%3Awrite`);
    const json = await expectTokenResponse(response);
    expect(json.scope).toBe('mcp:read mcp:write');
  });

  it('decodes %2B as a literal plus', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, `${RAW_BASE}&scope=a%2Bb`);
    const json = await expectTokenResponse(response);
    expect(json.scope).toBe('a+b');
  });

  it('decodes a euro sign', async () => {
    const { tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, `${RAW_BASE}&audience=price-%E2%82%AC`);
    // RFC 6749 Appendix A.12: the token itself stays printable ASCII.
    expect(token).toMatch(/^exchanged-[0-9a-f]{16}-for-price-%E2%82%AC$/);
  });

  it('rejects an invalid UTF-8 escape', async () => {
    const { tokenUrl } = await startServer();
    const body = RAW_BASE.replace('subject_token=user-jwt-abc', 'subject_token=bad%C3%28');
    const response = await postToken(tokenUrl, body);
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'malformed percent-encoding in parameter subject_token',
    );
  });

  it('rejects a malformed escape', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, `${RAW_BASE}&audience=a%zz`);
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'malformed percent-encoding in parameter audience',
    );
  });

  it('rejects a malformed escape in a name', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, `${RAW_BASE}&x%zz=1`);
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'malformed percent-encoding in a parameter name',
    );
  });

  it('rejects raw non-UTF-8 bytes', async () => {
    const { tokenUrl } = await startServer();
    const body = Buffer.concat([Buffer.from(`${RAW_BASE}&audience=`), Buffer.from([0xff, 0xfe])]);
    const response = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': FORM },
      body,
    });
    await expectOAuthError(response, 400, 'invalid_request', 'request body is not valid UTF-8');
  });

  it('ignores a leading byte order mark', async () => {
    const { tokenUrl } = await startServer();
    const body = Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf), Buffer.from(RAW_BASE)]);
    const response = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': FORM },
      body,
    });
    await expectTokenResponse(response);
  });
});

describe('token endpoint empty parameters', () => {
  // RFC 6749 §3.2: a parameter sent without a value is treated as omitted.
  it('treats empty subject_token as missing', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody({ subject_token: '' }));
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'missing required parameter subject_token',
    );
  });

  it('ignores empty actor parameters', async () => {
    const { tokenUrl } = await startServer();
    const body = `${exchangeBody()}&actor_token=&actor_token_type=`;
    expect(await issueToken(tokenUrl, body)).toBe(README_TOKEN);
  });

  it('treats empty scope as absent', async () => {
    const { tokenUrl } = await startServer();
    const withEmpty = await expectTokenResponse(
      await postToken(tokenUrl, exchangeBody({ scope: '' })),
    );
    const without = await expectTokenResponse(
      await postToken(tokenUrl, exchangeBody({ scope: undefined })),
    );
    expect(Object.keys(withEmpty)).not.toContain('scope');
    expect(withEmpty).toEqual(without);
  });
});

describe('token endpoint repeated parameters', () => {
  const repeatCases: Array<[string, Array<[string, string]>]> = [
    ['grant_type', [['grant_type', 'urn:ietf:params:oauth:grant-type:token-exchange']]],
    ['subject_token', [['subject_token', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTEyMyJ9.']]],
    ['subject_token_type', [['subject_token_type', ACCESS_TOKEN_TYPE]]],
    ['scope', [['scope', 'mcp.tools.read mcp.tools.execute']]],
    ['client_id', [['client_id', 'litellm-client']]],
    ['client_secret', [['client_secret', 'litellm-secret']]],
    [
      'requested_token_type',
      [
        ['requested_token_type', ACCESS_TOKEN_TYPE],
        ['requested_token_type', ACCESS_TOKEN_TYPE],
      ],
    ],
    [
      'actor_token',
      [
        ['actor_token', 'agent-token'],
        ['actor_token', 'agent-token'],
        ['actor_token_type', ACCESS_TOKEN_TYPE],
      ],
    ],
    [
      'actor_token_type',
      [
        ['actor_token', 'agent-token'],
        ['actor_token_type', ACCESS_TOKEN_TYPE],
        ['actor_token_type', ACCESS_TOKEN_TYPE],
      ],
    ],
  ];

  // RFC 6749 §3.2: request parameters must not be included more than once.
  it.each(repeatCases)('rejects repeated %s', async (name, extra) => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, form([...BASE_PAIRS, ...extra]));
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      `parameter ${name} must not be repeated`,
    );
  });

  // RFC 8693 §2.1: audience and resource may be given more than once.
  it('lists every audience and resource', async () => {
    const { tokenUrl } = await startServer();
    const body = form([
      ...new URLSearchParams(exchangeBody({ audience: 'aud-1' })).entries(),
      ['resource', 'https://r1.example/'],
      ['audience', 'aud-2'],
      ['resource', 'https://r2.example/'],
    ]);
    const token = await issueToken(tokenUrl, body);
    expect(token).toMatch(
      /^exchanged-[0-9a-f]{16}-for-aud-1,aud-2,https:\/\/r1\.example\/,https:\/\/r2\.example\/$/,
    );
  });

  it('counts an identical audience once', async () => {
    const { tokenUrl } = await startServer();
    const body = `${exchangeBody()}&audience=api%3A%2F%2Fmy-mcp-server`;
    expect(await issueToken(tokenUrl, body)).toBe(README_TOKEN);
  });
});

describe('token endpoint unknown parameters', () => {
  it('ignores unknown parameters', async () => {
    const { tokenUrl } = await startServer();
    const body = `${exchangeBody()}&foo=bar&requested_token_use=x`;
    expect(await issueToken(tokenUrl, body)).toBe(README_TOKEN);
  });
});

describe('token endpoint grant_type', () => {
  it('treats Grant_Type as missing', async () => {
    const { tokenUrl } = await startServer();
    const body = exchangeBody().replace('grant_type=', 'Grant_Type=');
    const response = await postToken(tokenUrl, body);
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'missing required parameter grant_type',
    );
  });

  it('rejects missing grant_type', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody({ grant_type: undefined }));
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'missing required parameter grant_type',
    );
  });

  // RFC 6749 §5.2: an unsupported grant type is unsupported_grant_type. This server compares
  // grant_type values exactly, case included.
  it('rejects an upper-case grant URI', async () => {
    const { tokenUrl } = await startServer();
    const grantType = 'URN:IETF:PARAMS:OAUTH:GRANT-TYPE:TOKEN-EXCHANGE';
    const response = await postToken(tokenUrl, exchangeBody({ grant_type: grantType }));
    await expectOAuthError(response, 400, 'unsupported_grant_type', 'unsupported grant_type');
  });

  it('rejects an unknown grant_type', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody({ grant_type: 'password' }));
    await expectOAuthError(response, 400, 'unsupported_grant_type', 'unsupported grant_type');
  });
});

describe('token endpoint query string', () => {
  const credentialsInQuery = 'client credentials must not be sent in the URL query';

  it('never reads parameters from the query', async () => {
    const { tokenUrl } = await startServer();
    const query = exchangeBody({ client_secret: undefined });
    const response = await postToken(`${tokenUrl}?${query}`, '');
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'missing required parameter grant_type',
    );
  });

  // RFC 6749 §2.3.1: client credentials must not be sent in the request URI.
  it('rejects client_secret in the query', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(`${tokenUrl}?client_secret=x`, exchangeBody());
    await expectOAuthError(response, 400, 'invalid_request', credentialsInQuery);
  });

  it('rejects client_secret after a second ?', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(`${tokenUrl}?a=b?&client_secret=x`, exchangeBody());
    await expectOAuthError(response, 400, 'invalid_request', credentialsInQuery);
  });

  it('allows an unrelated query', async () => {
    const { tokenUrl } = await startServer();
    const token = await issueToken(`${tokenUrl}?client-request-id=abc`, exchangeBody());
    expect(token).toBe(README_TOKEN);
  });
});

describe('token endpoint body limit', () => {
  it('accepts a body at the default limit', async () => {
    const { tokenUrl } = await startServer();
    expect(await issueToken(tokenUrl, bodyOfLength(65_536))).toBe(README_TOKEN);
  });

  it('rejects a body over the default limit', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, bodyOfLength(65_537));
    await expectOAuthError(response, 413, 'invalid_request', 'request body exceeds 65536 bytes');
  });

  it('rejects a chunked body over the limit', async () => {
    const { tokenUrl } = await startServer();
    const bytes = new TextEncoder().encode(bodyOfLength(65_537));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        // Two chunks and no Content-Length, so the limit applies while the body streams in.
        controller.enqueue(bytes.subarray(0, 40_000));
        controller.enqueue(bytes.subarray(40_000));
        controller.close();
      },
    });
    const response = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': FORM },
      body,
      duplex: 'half',
    } as RequestInit);
    await expectOAuthError(response, 413, 'invalid_request', 'request body exceeds 65536 bytes');
  });

  it('accepts a body at bodyLimit', async () => {
    const { tokenUrl } = await startServer({ bodyLimit: 2048 });
    expect(await issueToken(tokenUrl, bodyOfLength(2048))).toBe(README_TOKEN);
  });

  it('rejects a body over bodyLimit', async () => {
    const { tokenUrl } = await startServer({ bodyLimit: 2048 });
    const response = await postToken(tokenUrl, bodyOfLength(2049));
    await expectOAuthError(response, 413, 'invalid_request', 'request body exceeds 2048 bytes');
  });
});

describe('unknown routes', () => {
  it('returns 404 JSON for GET', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/oauth2/tokens`);
    await expectOAuthError(response, 404, 'not_found', 'no route for GET /oauth2/tokens');
  });

  it('returns 404 JSON for POST', async () => {
    const { url } = await startServer();
    const response = await postToken(`${url}/token`, exchangeBody());
    await expectOAuthError(response, 404, 'not_found', 'no route for POST /token');
  });

  it('leaves the query out of 404', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/missing?client_secret=s3cret`);
    await expectOAuthError(response, 404, 'not_found', 'no route for GET /missing');
  });

  // RFC 6749 §5.2: error_description must not contain a double quote or a backslash.
  it('replaces quote and backslash in 404', async () => {
    const { url } = await startServer();
    const response = await rawGet(url, '/x"y\\z');
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body)).toEqual({
      error: 'not_found',
      error_description: 'no route for GET /x?y?z',
    });
  });
});

interface BadRequest {
  name: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

const badRequests: BadRequest[] = [
  { name: 'GET', method: 'GET' },
  { name: 'PUT', method: 'PUT', body: exchangeBody() },
  { name: 'DELETE', method: 'DELETE' },
  { name: 'JSON body', headers: { 'content-type': 'application/json' }, body: '{}' },
  { name: 'no content type', headers: {}, body: new TextEncoder().encode(exchangeBody()) },
  { name: 'text/plain', headers: { 'content-type': 'text/plain' }, body: exchangeBody() },
  { name: 'invalid UTF-8 escape', body: `${RAW_BASE}&audience=%C3%28` },
  { name: 'malformed escape', body: `${RAW_BASE}&audience=%zz` },
  {
    name: 'raw non-UTF-8 bytes',
    body: Buffer.concat([Buffer.from(`${RAW_BASE}&audience=`), Buffer.from([0xff])]),
  },
  { name: 'empty subject_token', body: exchangeBody({ subject_token: '' }) },
  { name: 'repeated grant_type', body: `${exchangeBody()}&grant_type=x` },
  { name: 'Grant_Type', body: exchangeBody().replace('grant_type=', 'Grant_Type=') },
  {
    name: 'upper-case grant URI',
    body: exchangeBody({ grant_type: 'URN:IETF:PARAMS:OAUTH:GRANT-TYPE:TOKEN-EXCHANGE' }),
  },
  { name: 'unknown grant_type', body: exchangeBody({ grant_type: 'password' }) },
  { name: 'missing grant_type', body: exchangeBody({ grant_type: undefined }) },
  {
    name: 'query only',
    path: `/oauth2/token?${exchangeBody({ client_secret: undefined })}`,
    body: '',
  },
  { name: 'client_secret in query', path: '/oauth2/token?client_secret=x', body: exchangeBody() },
  { name: 'body over limit', body: bodyOfLength(65_537) },
  { name: 'unknown route', method: 'GET', path: '/nowhere' },
  { name: 'no client', body: exchangeBody({ client_id: undefined, client_secret: undefined }) },
  { name: 'invalid scope', body: exchangeBody({ scope: 'a"b' }) },
  { name: 'invalid resource', body: exchangeBody({ resource: 'not a uri' }) },
];

describe('error response format', () => {
  // RFC 6749 §5.2: the body has error and error_description, in a restricted character set.
  it.each(badRequests)('$name error body', async (bad) => {
    const { url } = await startServer();
    const init: RequestInit = {
      method: bad.method ?? 'POST',
      headers: bad.headers ?? { 'content-type': FORM },
    };
    if (bad.body !== undefined) init.body = bad.body;
    const response = await fetch(`${url}${bad.path ?? '/oauth2/token'}`, init);
    const json = (await response.json()) as Record<string, unknown>;

    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('pragma')).toBe('no-cache');
    expect(Object.keys(json).sort()).toEqual(['error', 'error_description']);
    expect(json.error).toMatch(ERROR_TEXT);
    expect(json.error_description).toMatch(ERROR_TEXT);
  });
});
