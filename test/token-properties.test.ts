import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frozenClock } from '../src/clock.js';
import { createServer, type MockTokenExchangeServer } from '../src/server.js';
import { ACCESS_TOKEN_TYPE, FROZEN_TIME, TOKEN_EXCHANGE } from './helpers.js';

/** RFC 6749 §5.2: the characters allowed in `error` and `error_description`. */
const ERROR_TEXT = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/;
const SUCCESS_MEMBERS = ['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type'];

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
  'client_assertion',
];

const KNOWN_VALUES = [
  TOKEN_EXCHANGE,
  ACCESS_TOKEN_TYPE,
  'urn:ietf:params:oauth:token-type:jwt',
  'urn:ietf:params:oauth:token-type:saml2',
  'api://my-mcp-server',
  'https://mcp.example/mcp',
  'https://mcp.example/mcp#frag',
  'mcp.tools.read mcp.tools.execute',
  'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTEyMyJ9.',
  'eyJhbGciOiJub25lIn0.eyJfX3Byb3RvX18iOnsiYSI6MX19.',
];

/** A single form component: a known value, random text, or percent-encoding garbage. */
const component = fc.oneof(
  fc.constantFrom(...KNOWN_VALUES).map((value) => encodeURIComponent(value)),
  fc.string({ maxLength: 40 }).map((value) => encodeURIComponent(value)),
  fc.stringMatching(/^[%+=&A-Za-z0-9]{0,20}$/),
  fc.constantFrom('%', '%z', '%C3%28', '%ED%A0%80', '%00', '%FF', '%E2%82%AC', '+', ''),
);

const parameterName = fc.oneof(
  fc.constantFrom(...PARAMETER_NAMES),
  fc.constantFrom('__proto__', 'constructor', 'Grant_Type', 'foo'),
  fc.stringMatching(/^[a-z_%]{1,12}$/),
);

const formBody = fc
  .array(fc.tuple(parameterName, component), { maxLength: 14 })
  .map((pairs) => pairs.map(([name, value]) => `${name}=${value}`).join('&'));

const authorization = fc.option(
  fc.oneof(
    fc.base64String({ maxLength: 40 }).map((value) => `Basic ${value}`),
    fc.string({ maxLength: 40 }).map((value) => `Basic ${Buffer.from(value).toString('base64')}`),
    fc.stringMatching(/^[\x21-\x7E ]{0,40}$/),
  ),
  { nil: undefined },
);

const contentType = fc.constantFrom(
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=UTF-8',
  'APPLICATION/X-WWW-FORM-URLENCODED;charset=iso-8859-1',
  'application/json',
  'text/plain',
  'multipart/form-data; boundary=x',
);

let server: MockTokenExchangeServer;

beforeAll(async () => {
  server = createServer({ clock: frozenClock(FROZEN_TIME), logLevel: 'silent' });
  await server.app.ready();
});

afterAll(async () => {
  await server.close();
});

/** Checks that a response is a valid token response or an RFC 6749 §5.2 error, never a 5xx. */
function expectWellFormed(response: {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}) {
  expect(response.statusCode).toBeLessThan(500);
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.headers.pragma).toBe('no-cache');
  const body = JSON.parse(response.body) as Record<string, unknown>;

  if (response.statusCode === 200) {
    expect(SUCCESS_MEMBERS).toEqual(expect.arrayContaining(Object.keys(body)));
    expect(typeof body.access_token).toBe('string');
    expect(body.expires_in).toBe(3600);
    return;
  }

  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(body.error).toMatch(ERROR_TEXT);
  expect(body.error_description).toMatch(ERROR_TEXT);
}

describe('token endpoint properties', () => {
  it('random form bodies get well-formed answers', async () => {
    await fc.assert(
      fc.asyncProperty(formBody, authorization, async (body, auth) => {
        const response = await server.app.inject({
          method: 'POST',
          url: '/oauth2/token',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            ...(auth !== undefined && { authorization: auth }),
          },
          payload: body,
        });
        expectWellFormed(response);
      }),
      { numRuns: 400 },
    );
  });

  it('random bytes get well-formed answers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), contentType, async (bytes, type) => {
        const response = await server.app.inject({
          method: 'POST',
          url: '/oauth2/token',
          headers: { 'content-type': type },
          payload: Buffer.from(bytes),
        });
        expectWellFormed(response);
      }),
      { numRuns: 300 },
    );
  });

  it('valid exchange survives random extras', async () => {
    const extras = fc.array(fc.tuple(fc.stringMatching(/^x_[a-z]{1,8}$/), component), {
      maxLength: 6,
    });
    const base = new URLSearchParams({
      grant_type: TOKEN_EXCHANGE,
      subject_token: 'user-jwt-abc',
      subject_token_type: ACCESS_TOKEN_TYPE,
      audience: 'api://my-mcp-server',
      client_id: 'litellm-client',
    }).toString();
    const reference = await server.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: base,
    });

    await fc.assert(
      fc.asyncProperty(extras, async (pairs) => {
        const body = [base, ...pairs.map(([name, value]) => `${name}=${value}`)].join('&');
        const response = await server.app.inject({
          method: 'POST',
          url: '/oauth2/token',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: body,
        });
        // RFC 6749 §3.2: unknown parameters are ignored, unless they are not decodable at all.
        if (response.statusCode === 200) {
          expect(response.json().access_token).toBe(reference.json().access_token);
        } else {
          expectWellFormed(response);
          expect(response.json().error).toBe('invalid_request');
        }
      }),
      { numRuns: 200 },
    );
  });
});
