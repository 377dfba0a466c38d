import { Agent, type OutgoingHttpHeaders, request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frozenClock } from '../src/clock.js';
import { createServer, type MockTokenExchangeServer } from '../src/server.js';
import { exchangeBody, FROZEN_TIME } from './helpers.js';

/** RFC 6749 §5.2: the characters allowed in `error` and `error_description`. */
const ERROR_TEXT = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/;
const TOKEN_MEMBERS = ['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type'];
const FORM = 'application/x-www-form-urlencoded';
/** Small, so that bodies just over it stay cheap to send. */
const BODY_LIMIT = 4096;
/** Keeps every property within a few seconds on a loaded machine. */
const PROPERTY_TIMEOUT_MS = 20_000;

interface HttpRequest {
  method: string;
  path: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
}

interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

let server: MockTokenExchangeServer;
let port: number;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

beforeAll(async () => {
  server = createServer({
    clock: frozenClock(FROZEN_TIME),
    logLevel: 'silent',
    bodyLimit: BODY_LIMIT,
  });
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  port = Number(new URL(url).port);
});

afterAll(async () => {
  agent.destroy();
  await server.close();
});

/** Sends one request over a kept-alive loopback connection and reads the whole response. */
function send({ method, path, headers = {}, body }: HttpRequest): Promise<HttpResponse> {
  // Node sends bodies of GET, HEAD and DELETE unframed unless Content-Length is set.
  const framing = body === undefined ? {} : { 'content-length': Buffer.byteLength(body) };
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: '127.0.0.1', port, method, path, headers: { ...headers, ...framing }, agent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/**
 * Sends a request and returns its response. When the request may have added or replaced a rule,
 * the rules are reset at once, so that no scripted response (a 500, a hang) reaches later runs.
 */
async function exchange(input: HttpRequest): Promise<HttpResponse> {
  const response = await send(input);
  const changesRules = input.path.startsWith('/admin/rules') && input.method !== 'GET';
  if (changesRules && response.status < 300) {
    const reset = await send({ method: 'DELETE', path: '/admin/rules' });
    expect(reset.status).toBe(200);
  }
  return response;
}

/** Checks a 2xx body against what the endpoint at `path` returns on success. */
function expectValidSuccess(method: string, path: string, body: Record<string, unknown>): void {
  const route = path.split('?', 1)[0] ?? '';
  expect(body).not.toHaveProperty('error');
  if (route === '/oauth2/token') {
    expect(TOKEN_MEMBERS).toEqual(expect.arrayContaining(Object.keys(body)));
    expect(typeof body.access_token).toBe('string');
  } else if (route === '/health') {
    expect(body).toEqual({ status: 'ok' });
  } else if (route === '/.well-known/jwks.json') {
    expect(Array.isArray(body.keys)).toBe(true);
  } else if (route.startsWith('/.well-known/')) {
    expect(typeof body.issuer).toBe('string');
  } else if (route === '/admin/rules' && method !== 'POST') {
    expect(Array.isArray(body.rules)).toBe(true);
  } else if (route.startsWith('/admin/rules')) {
    expect(typeof (body.id ?? body.deleted)).toBe('string');
  } else if (route === '/admin/tokens') {
    expect(typeof body.token).toBe('string');
  } else if (route === '/oauth2/introspect') {
    expect(typeof body.active).toBe('boolean');
  }
}

/**
 * Checks the invariant every response keeps: no 5xx, `Cache-Control: no-store`, and a JSON
 * body that is either a success of the endpoint or an RFC 6749 §5.2 error.
 */
function expectWellFormed(input: HttpRequest, response: HttpResponse): void {
  expect(response.status).toBeLessThan(500);
  expect(response.headers['cache-control']).toBe('no-store');
  // HEAD and RFC 7009 §2.2 revocation successes have no body.
  if (response.body === '' && (input.method === 'HEAD' || response.status === 200)) return;

  const body = JSON.parse(response.body) as Record<string, unknown>;
  expect(typeof body).toBe('object');
  if (response.status < 400) {
    expectValidSuccess(input.method, input.path, body);
    return;
  }
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(body.error).toMatch(ERROR_TEXT);
  expect(body.error_description).toMatch(ERROR_TEXT);
}

const KNOWN_PATHS = [
  '/oauth2/token',
  '/oauth2/introspect',
  '/oauth2/revoke',
  '/oauth2/authorize',
  '/.well-known/jwks.json',
  '/.well-known/oauth-authorization-server',
  '/.well-known/openid-configuration',
  '/health',
  '/log',
  '/admin/rules',
  '/admin/rules/some-rule',
  '/admin/tokens',
  '/admin/counters',
  '/admin/reset',
  '/admin/clock',
  '/admin/clock/freeze',
  '/admin/clock/advance',
  '/admin/clock/release',
];

/** Methods the HTTP parser recognises, and tokens it does not, which it rejects with 400. */
const method = fc.oneof(
  fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
  fc.constantFrom('PROPFIND', 'MKCOL', 'SEARCH', 'LOCK', 'PURGE', 'REPORT'),
  fc.stringMatching(/^[A-Z]{3,9}$/),
);

const pathSegment = fc.oneof(
  fc.string({ maxLength: 20 }).map((value) => encodeURIComponent(value)),
  fc.constantFrom('..', '.', '', '%', '%zz', '%00', '%2F', 'rules', 'tokens', 'jwks.json', ';x'),
  fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@%-]{1,30}$/),
);

const randomPath = fc
  .tuple(
    fc.constantFrom('/admin', '/.well-known'),
    fc.array(pathSegment, { minLength: 1, maxLength: 4 }),
    fc.option(fc.stringMatching(/^[A-Za-z0-9=&%?]{0,20}$/), { nil: undefined }),
  )
  .map(([root, segments, query]) => {
    const path = `${root}/${segments.join('/')}`;
    return query === undefined ? path : `${path}?${query}`;
  });

/** A valid exchange body cut at a random point, which may split a percent-escape. */
const truncatedBody = fc
  .nat({ max: exchangeBody().length })
  .map((length) => exchangeBody().slice(0, length));

/**
 * A valid exchange body with a bad escape put in at a random point. Each escape stays invalid
 * whatever follows it: a bare `%` is left out, because `%` before `1c` is a valid escape.
 */
const badlyEncodedBody = fc
  .tuple(
    fc.nat({ max: exchangeBody().length }),
    fc.constantFrom('%Z', '%zz', '%G0', '%C3', '%C3%28', '%ED%A0%80', '%FF%FE', '%%41', '%u0041'),
  )
  .map(([at, badEscape]) => {
    const body = exchangeBody();
    return `${body.slice(0, at)}${badEscape}${body.slice(at)}`;
  });

const PARAMETER_NAMES = [
  'grant_type',
  'subject_token',
  'subject_token_type',
  'actor_token',
  'actor_token_type',
  'requested_token_type',
  'audience',
  'resource',
  'scope',
  'client_id',
  'client_secret',
];

/** Random names, known names repeated, and random values, in random order. */
const repeatedParameterBody = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(...PARAMETER_NAMES),
        fc.string({ maxLength: 12 }),
        fc.constantFrom('__proto__', 'constructor', 'hasOwnProperty', 'toString'),
      ),
      fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('', 'api://my-mcp-server')),
    ),
    { maxLength: 30 },
  )
  .map((pairs) => {
    const extra = new URLSearchParams(pairs).toString();
    return extra === '' ? exchangeBody() : `${exchangeBody()}&${extra}`;
  });

const contentType = fc.oneof(
  fc.constantFrom(
    FORM,
    `${FORM}; charset=UTF-8`,
    `${FORM}; charset="utf-8"`,
    `${FORM}; charset=utf-16`,
    `${FORM}; charset=iso-8859-1`,
    `${FORM}; charset=`,
    `${FORM};;;`,
    `${FORM} ; charset=klingon`,
    'APPLICATION/X-WWW-FORM-URLENCODED',
    '',
    ' ',
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'multipart/form-data; boundary=x',
    '*/*',
    ';',
  ),
  fc.stringMatching(/^[\x20-\x7E]{0,60}$/),
  fc.nat({ max: 4000 }).map((length) => `${FORM}; x=${'a'.repeat(length)}`),
);

/** One Content-Type header, none, or the header repeated. */
const contentTypeHeader = fc.oneof(
  contentType,
  fc.constant(undefined),
  fc.array(contentType, { minLength: 2, maxLength: 3 }),
);

const HEADER_NAMES = [
  'accept',
  'accept-charset',
  'accept-encoding',
  'authorization',
  'origin',
  'user-agent',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-request-id',
  'dpop',
  'content-language',
];

const headerValue = fc.oneof(
  fc.stringMatching(/^[\x21-\x7E][\x20-\x7E]{0,40}$/),
  fc.nat({ max: 6000 }).map((length) => 'v'.repeat(length + 1)),
  fc.constantFrom('Basic', 'Bearer', 'Basic !!!', 'Basic Og==', 'gzip', 'https', 'a, b, c'),
);

const headerSet = fc.dictionary(
  fc.oneof(fc.constantFrom(...HEADER_NAMES), fc.stringMatching(/^x-[a-z0-9-]{1,20}$/)),
  headerValue,
  { maxKeys: 8 },
);

/** Builds headers from a random set and a Content-Type that is absent, single or repeated. */
function buildHeaders(
  extra: Record<string, string>,
  type: string | string[] | undefined,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ...extra };
  if (type !== undefined) headers['content-type'] = type;
  return headers;
}

/** Random JSON, and objects shaped nearly like the endpoint's input. */
function jsonBody(keys: string[]): fc.Arbitrary<unknown> {
  const shaped = fc.dictionary(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 }), {
    maxKeys: 5,
  });
  return fc.oneof(fc.jsonValue({ maxDepth: 4 }), shaped);
}

/** A rule the schema accepts: an error action with a 4xx status, which the reset removes. */
const validRule = fc.record(
  {
    id: fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
    match: fc.record(
      { clientId: fc.string({ minLength: 1, maxLength: 10 }), scope: fc.constant('x') },
      { requiredKeys: [] },
    ),
    action: fc.record({
      type: fc.constant('error'),
      error: fc.constantFrom('invalid_grant', 'access_denied', 'x'),
      status: fc.integer({ min: 400, max: 499 }),
    }),
    times: fc.integer({ min: 1, max: 3 }),
  },
  { requiredKeys: ['action'] },
);

const ruleBody = fc.oneof(
  validRule,
  jsonBody(['id', 'match', 'action', 'times', 'position']),
  fc.record(
    {
      match: fc.dictionary(
        fc.constantFrom('grantType', 'clientId', 'audience', 'scope', 'claims', 'headers'),
        fc.jsonValue({ maxDepth: 2 }),
        { maxKeys: 3 },
      ),
      action: fc.record(
        {
          type: fc.constantFrom('error', 'response', 'delay', 'close', 'hang', 'modify', 'x'),
          status: fc.oneof(fc.integer({ min: -1, max: 700 }), fc.string({ maxLength: 4 })),
          error: fc.string({ maxLength: 20 }),
          ms: fc.integer({ min: -5, max: 200_000 }),
        },
        { requiredKeys: ['type'] },
      ),
      times: fc.oneof(fc.integer({ min: -2, max: 3 }), fc.double()),
    },
    { requiredKeys: ['action'] },
  ),
);

/** Mint options the schema accepts. */
const validMintOptions = fc.record(
  {
    sub: fc.string({ minLength: 1, maxLength: 20 }),
    aud: fc.constantFrom('api://my-mcp-server', 'https://mcp.example/mcp'),
    scope: fc.constantFrom('mcp.tools.read', 'a b c'),
    expiresIn: fc.integer({ min: 1, max: 86_400 }),
    claims: fc.dictionary(fc.stringMatching(/^x_[a-z]{1,8}$/), fc.jsonValue({ maxDepth: 2 }), {
      maxKeys: 3,
    }),
  },
  { requiredKeys: ['sub'] },
);

const tokenBody = fc.oneof(
  validMintOptions,
  jsonBody(['iss', 'sub', 'aud', 'scope', 'act', 'nbf', 'expiresIn', 'claims', 'typ', 'kid']),
  fc.record(
    {
      sub: fc.oneof(fc.string({ maxLength: 20 }), fc.integer()),
      aud: fc.oneof(fc.string({ maxLength: 20 }), fc.array(fc.string({ maxLength: 10 }))),
      scope: fc.oneof(fc.string({ maxLength: 20 }), fc.array(fc.string({ maxLength: 10 }))),
      expiresIn: fc.oneof(fc.integer({ min: -10, max: 1e9 }), fc.double(), fc.string()),
      nbf: fc.oneof(fc.integer(), fc.string({ maxLength: 5 })),
      claims: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), {
        maxKeys: 4,
      }),
      kid: fc.constantFrom('missing-kid', '', 'x'),
    },
    { requiredKeys: [] },
  ),
);

describe('token endpoint over HTTP', () => {
  it(
    'truncated bodies get well-formed answers',
    async () => {
      await fc.assert(
        fc.asyncProperty(truncatedBody, async (body) => {
          const input = {
            method: 'POST',
            path: '/oauth2/token',
            headers: { 'content-type': FORM },
            body,
          };
          expectWellFormed(input, await exchange(input));
        }),
        { numRuns: 150 },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'bad escapes get invalid_request',
    async () => {
      await fc.assert(
        fc.asyncProperty(badlyEncodedBody, async (body) => {
          const input = {
            method: 'POST',
            path: '/oauth2/token',
            headers: { 'content-type': FORM },
            body,
          };
          const response = await exchange(input);
          expectWellFormed(input, response);
          expect(response.status).toBe(400);
          expect(JSON.parse(response.body).error).toBe('invalid_request');
        }),
        { numRuns: 150 },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'repeated random parameters stay well-formed',
    async () => {
      await fc.assert(
        fc.asyncProperty(repeatedParameterBody, async (body) => {
          const input = {
            method: 'POST',
            path: '/oauth2/token',
            headers: { 'content-type': FORM },
            body,
          };
          expectWellFormed(input, await exchange(input));
        }),
        { numRuns: 200 },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'random headers and content types pass',
    async () => {
      const body = fc.oneof(
        fc.constant(exchangeBody()),
        truncatedBody,
        fc.string({ maxLength: 80 }),
      );
      await fc.assert(
        fc.asyncProperty(headerSet, contentTypeHeader, body, async (extra, type, payload) => {
          const input = {
            method: 'POST',
            path: '/oauth2/token',
            headers: buildHeaders(extra, type),
            body: payload,
          };
          expectWellFormed(input, await exchange(input));
        }),
        { numRuns: 200 },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );
});

describe('body limit over HTTP', () => {
  it(
    'bodies just over bodyLimit get 413',
    async () => {
      const paths = fc.constantFrom(
        '/oauth2/token',
        '/oauth2/introspect',
        '/oauth2/revoke',
        '/admin/rules',
        '/admin/tokens',
      );
      await fc.assert(
        fc.asyncProperty(paths, fc.integer({ min: 1, max: 64 }), async (path, excess) => {
          const isJson = path.startsWith('/admin');
          const prefix = isJson ? '{"padding":"' : `${exchangeBody()}&padding=`;
          const suffix = isJson ? '"}' : '';
          const padding = 'a'.repeat(BODY_LIMIT + excess - prefix.length - suffix.length);
          const input = {
            method: 'POST',
            path,
            headers: { 'content-type': isJson ? 'application/json' : FORM },
            body: `${prefix}${padding}${suffix}`,
          };
          const response = await exchange(input);
          expectWellFormed(input, response);
          expect(response.status).toBe(413);
        }),
        { numRuns: 20 },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );
});

describe('routing over HTTP', () => {
  it(
    'random methods on known paths',
    async () => {
      const body = fc.option(fc.oneof(fc.constant(exchangeBody()), fc.string({ maxLength: 40 })), {
        nil: undefined,
      });
      const type = fc.constantFrom(FORM, 'application/json', 'text/plain');
      await fc.assert(
        fc.asyncProperty(
          method,
          fc.constantFrom(...KNOWN_PATHS),
          body,
          type,
          async (verb, path, payload, contentTypeValue) => {
            const headers = payload === undefined ? {} : { 'content-type': contentTypeValue };
            const input = { method: verb, path, headers, body: payload };
            expectWellFormed(input, await exchange(input));
          },
        ),
        { numRuns: 250 },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'random admin and well-known paths',
    async () => {
      await fc.assert(
        fc.asyncProperty(method, randomPath, async (verb, path) => {
          const input = { method: verb, path };
          expectWellFormed(input, await exchange(input));
        }),
        { numRuns: 250 },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );
});

describe('control API JSON bodies', () => {
  it(
    'random rules get well-formed answers',
    async () => {
      let successes = 0;
      await fc.assert(
        fc.asyncProperty(ruleBody, async (rule) => {
          const input = {
            method: 'POST',
            path: '/admin/rules',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(rule) ?? 'null',
          };
          const response = await exchange(input);
          expectWellFormed(input, response);
          if (response.status < 300) successes += 1;
        }),
        { numRuns: 250 },
      );
      // The valid share of the generator reaches the success path.
      expect(successes).toBeGreaterThan(0);
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'random mint options get well-formed answers',
    async () => {
      let successes = 0;
      await fc.assert(
        fc.asyncProperty(tokenBody, async (options) => {
          const input = {
            method: 'POST',
            path: '/admin/tokens',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(options) ?? 'null',
          };
          const response = await exchange(input);
          expectWellFormed(input, response);
          if (response.status < 300) successes += 1;
        }),
        { numRuns: 250 },
      );
      // The valid share of the generator reaches the success path.
      expect(successes).toBeGreaterThan(0);
    },
    PROPERTY_TIMEOUT_MS,
  );
});

describe('server after random traffic', () => {
  it('health still returns 200', async () => {
    const response = await send({ method: 'GET', path: '/health' });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
  });

  it('README exchange still succeeds', async () => {
    const response = await send({
      method: 'POST',
      path: '/oauth2/token',
      headers: { 'content-type': FORM },
      body: exchangeBody(),
    });
    expect(response.status).toBe(200);
  });
});
