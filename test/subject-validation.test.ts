import { type ChildProcess, spawn } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt, type JWTPayload, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../src/clock.js';
import { ConfigError } from '../src/config/errors.js';
import type { ConfigInput } from '../src/config/schema.js';
import { createServer } from '../src/server.js';
import { fingerprint } from '../src/tokens/fingerprint.js';
import { revocationKey } from '../src/tokens/token-index.js';
import {
  ACCESS_TOKEN_TYPE,
  FROZEN_TIME,
  JWT_TOKEN_TYPE,
  startServer,
  type TestServer,
  UNSIGNED_USER_JWT,
} from './helpers.js';
import {
  compactToken,
  exchangeSubject,
  expectRejected,
  FINGERPRINT_SUBJECT,
  ID_TOKEN_TYPE,
  NOW,
  OTHER_ISSUER_KEYS_FILE,
  publicJwk,
  REFRESH_TOKEN_TYPE,
  SIGNING_KEYS_FILE,
  signToken,
  startVerifyServer,
} from './subject-tokens.js';
import { expectOAuthError, expectTokenResponse, lastLogEntry } from './token-assertions.js';

const OTHER_ISSUER = 'https://idp.example';

type TrustedIssuerInput = NonNullable<
  NonNullable<ConfigInput['subjectTokens']>['trustedIssuers']
>[number];

/** Issues a token and returns the claims of the issued JWT. */
async function issuedClaims(response: Response): Promise<JWTPayload> {
  const body = await expectTokenResponse(response);
  return decodeJwt(body.access_token as string);
}

/** Claims of a user access token of the server at `url`, valid for an hour. */
function userClaims(url: string, extra: JWTPayload = {}): JWTPayload {
  return { iss: url, sub: 'user-42', aud: url, iat: NOW, exp: NOW + 3600, ...extra };
}

async function startModeServer(validation: 'none' | 'jwt'): Promise<TestServer> {
  return startServer({
    keys: { file: SIGNING_KEYS_FILE },
    tokenFormat: 'jwt',
    subjectTokens: { validation },
  });
}

describe('validation mode none', () => {
  it('accepts opaque subject token', async () => {
    const server = await startModeServer('none');
    const claims = await issuedClaims(await exchangeSubject(server, 'opaque-user-token'));
    expect(claims.sub).toBe(`${FINGERPRINT_SUBJECT}${fingerprint('opaque-user-token')}`);
  });

  it('uses unsigned JWT claims', async () => {
    const server = await startModeServer('none');
    const claims = await issuedClaims(await exchangeSubject(server, UNSIGNED_USER_JWT));
    expect(claims.sub).toBe('user-123');
  });

  it('ignores declared token type', async () => {
    const server = await startModeServer('none');
    const response = await exchangeSubject(server, 'opaque-refresh-token', {
      subject_token_type: REFRESH_TOKEN_TYPE,
    });
    expect(response.status).toBe(200);
  });
});

describe('validation mode jwt', () => {
  it('accepts unsigned JWT', async () => {
    const server = await startModeServer('jwt');
    const claims = await issuedClaims(await exchangeSubject(server, UNSIGNED_USER_JWT));
    expect(claims.sub).toBe('user-123');
  });

  it('accepts unverifiable signature', async () => {
    const server = await startModeServer('jwt');
    const token = compactToken({ alg: 'RS256', kid: 'unknown' }, { sub: 'user-7' }, 'c2ln');
    const claims = await issuedClaims(await exchangeSubject(server, token));
    expect(claims.sub).toBe('user-7');
  });

  it.each([
    ['opaque-user-token', 'not a JWT: 1 dot-separated part instead of 3'],
    ['a.b', 'not a JWT: 2 dot-separated parts instead of 3'],
    ['a.b.c.d.e', 'not a JWS: an encrypted JWT (JWE) cannot be read by this server'],
    ['e30.e30.sig+', 'not a JWT: the signature is not base64url'],
    ['e30=.e30.', 'not a JWT: the header is not base64url'],
    ['bm90IGpzb24.e30.', 'not a JWT: the header is not JSON'],
    ['WzFd.e30.', 'not a JWT: the header is not a JSON object'],
    ['_w.e30.', 'not a JWT: the header is not UTF-8'],
    ['eyJhbGciOiJub25lIn0.WzFd.', 'not a JWT: the claims set is not a JSON object'],
    ['eyJhbGciOiJub25lIn0.bnVsbA.', 'not a JWT: the claims set is not a JSON object'],
    ['eyJhbGciOiJub25lIn0.e30xx.', 'not a JWT: the claims set is not base64url'],
    ['e30.e30.', 'not a JWT: the header has no alg'],
  ])('rejects malformed token %s', async (token, detail) => {
    const server = await startModeServer('jwt');
    await expectRejected(server, await exchangeSubject(server, token), detail);
  });

  it('rejects malformed actor token', async () => {
    const server = await startModeServer('jwt');
    const response = await exchangeSubject(server, UNSIGNED_USER_JWT, {
      actor_token: 'opaque-agent-token',
      actor_token_type: ACCESS_TOKEN_TYPE,
    });
    await expectRejected(server, response, 'not a JWT: 1 dot-separated part instead of 3', {
      description: 'actor_token is invalid',
    });
  });

  it('ignores expiry and issuer', async () => {
    const server = await startModeServer('jwt');
    const token = await signToken({ iss: 'https://evil.example', sub: 'user-9', exp: NOW + 60 });
    const claims = await issuedClaims(await exchangeSubject(server, token));
    expect(claims.sub).toBe('user-9');
  });

  it('keeps token out of detail', async () => {
    const server = await startModeServer('jwt');
    await exchangeSubject(server, 'secret-opaque-token');
    const entry = await lastLogEntry(server.url);
    expect(JSON.stringify(entry)).not.toContain('secret-opaque-token');
  });
});

describe('declared token types', () => {
  const typeCases: Array<[string, string, Record<string, unknown>, Record<string, unknown>]> = [
    ['at+jwt access token', ACCESS_TOKEN_TYPE, { alg: 'none', typ: 'at+jwt' }, {}],
    ['media type access token', ACCESS_TOKEN_TYPE, { alg: 'none', typ: 'application/at+jwt' }, {}],
    ['upper case typ', ACCESS_TOKEN_TYPE, { alg: 'none', typ: 'AT+JWT' }, { nonce: 'n' }],
    ['typ JWT access token', ACCESS_TOKEN_TYPE, { alg: 'none', typ: 'JWT' }, {}],
    ['untyped access token', ACCESS_TOKEN_TYPE, { alg: 'none' }, {}],
    ['access token with auth_time', ACCESS_TOKEN_TYPE, { alg: 'none' }, { auth_time: NOW }],
    ['id token with nonce', ID_TOKEN_TYPE, { alg: 'none', typ: 'JWT' }, { nonce: 'n' }],
    ['untyped id token', ID_TOKEN_TYPE, { alg: 'none' }, {}],
    ['at+jwt as jwt', JWT_TOKEN_TYPE, { alg: 'none', typ: 'at+jwt' }, {}],
    ['id token as jwt', JWT_TOKEN_TYPE, { alg: 'none' }, { nonce: 'n' }],
  ];

  it.each(typeCases)('accepts %s', async (_name, tokenType, header, claims) => {
    const server = await startModeServer('jwt');
    const token = compactToken(header, { sub: 'user-1', ...claims });
    const response = await exchangeSubject(server, token, { subject_token_type: tokenType });
    expect(response.status).toBe(200);
  });

  const mismatchCases: Array<
    [string, string, Record<string, unknown>, Record<string, unknown>, string]
  > = [
    [
      'nonce as access token',
      ACCESS_TOKEN_TYPE,
      { alg: 'none' },
      { nonce: 'n' },
      'the JWT is an ID token (it has a nonce claim and typ is not at+jwt), which does not match subject_token_type access_token',
    ],
    [
      'at_hash as access token',
      ACCESS_TOKEN_TYPE,
      { alg: 'none', typ: 'JWT' },
      { at_hash: 'h' },
      'the JWT is an ID token (it has a at_hash claim and typ is not at+jwt), which does not match subject_token_type access_token',
    ],
    [
      'c_hash as access token',
      ACCESS_TOKEN_TYPE,
      { alg: 'none' },
      { c_hash: 'h' },
      'the JWT is an ID token (it has a c_hash claim and typ is not at+jwt), which does not match subject_token_type access_token',
    ],
    [
      'dpop+jwt as access token',
      ACCESS_TOKEN_TYPE,
      { alg: 'none', typ: 'dpop+jwt' },
      {},
      'typ dpop+jwt does not match subject_token_type access_token',
    ],
    [
      'at+jwt as id token',
      ID_TOKEN_TYPE,
      { alg: 'none', typ: 'at+jwt' },
      {},
      'typ at+jwt does not match subject_token_type id_token',
    ],
    [
      'non-string typ',
      ACCESS_TOKEN_TYPE,
      { alg: 'none', typ: 7 },
      {},
      'the header typ is not a string',
    ],
  ];

  it.each(mismatchCases)('rejects %s', async (_name, tokenType, header, claims, detail) => {
    const server = await startModeServer('jwt');
    const token = compactToken(header, { sub: 'user-1', ...claims });
    const response = await exchangeSubject(server, token, { subject_token_type: tokenType });
    await expectRejected(server, response, detail);
  });

  it('names actor_token_type in mismatch', async () => {
    const server = await startModeServer('jwt');
    const actor = compactToken({ alg: 'none', typ: 'at+jwt' }, { sub: 'agent-a' });
    const response = await exchangeSubject(server, UNSIGNED_USER_JWT, {
      actor_token: actor,
      actor_token_type: ID_TOKEN_TYPE,
    });
    await expectRejected(server, response, 'typ at+jwt does not match actor_token_type id_token', {
      description: 'actor_token is invalid',
    });
  });

  it.each(['jwt', 'verify'] as const)('rejects refresh token in %s mode', async (validation) => {
    const server = await startServer({ subjectTokens: { validation } });
    const response = await exchangeSubject(server, UNSIGNED_USER_JWT, {
      subject_token_type: REFRESH_TOKEN_TYPE,
    });
    await expectRejected(
      server,
      response,
      `subject_token_type refresh_token is not accepted in ${validation} mode, because this server issues no refresh tokens`,
    );
  });
});

describe('issued opaque tokens', () => {
  /** Exchanges a signed user token on an opaque-format server and returns the issued token. */
  async function issueOpaque(server: TestServer, scope = 'files.read'): Promise<string> {
    const subject = await signToken(userClaims(server.url));
    const response = await exchangeSubject(server, subject, { scope });
    const body = await expectTokenResponse(response);
    return body.access_token as string;
  }

  it.each(['jwt', 'verify'] as const)('accepted as subject in %s mode', async (validation) => {
    const server = await startServer({
      keys: { file: SIGNING_KEYS_FILE },
      subjectTokens: { validation },
    });
    const opaque = await issueOpaque(server);
    const response = await exchangeSubject(server, opaque, { scope: 'files.read' });
    expect(await expectTokenResponse(response)).toMatchObject({ scope: 'files.read' });
  });

  it('carries recorded claims forward', async () => {
    const server = await startServer({
      keys: { file: SIGNING_KEYS_FILE },
      subjectTokens: { validation: 'verify' },
    });
    const opaque = await issueOpaque(server, 'files.read files.write');
    const response = await exchangeSubject(server, opaque, { scope: 'files.write mail.send' });
    await expectRejected(server, response, 'not in the subject token: mail.send', {
      error: 'invalid_scope',
      description: 'requested scope exceeds the scope of the subject token',
    });
  });

  it('rejected as id token', async () => {
    const server = await startServer({
      keys: { file: SIGNING_KEYS_FILE },
      subjectTokens: { validation: 'verify' },
    });
    const opaque = await issueOpaque(server);
    const response = await exchangeSubject(server, opaque, { subject_token_type: ID_TOKEN_TYPE });
    await expectRejected(
      server,
      response,
      'the token is an opaque access token issued by this server, which does not match subject_token_type id_token',
    );
  });

  it('rejected once expired', async () => {
    let now = FROZEN_TIME;
    const clock: Clock = { now: () => now };
    const server = await startServer({
      clock,
      tokenTtl: 60,
      keys: { file: SIGNING_KEYS_FILE },
      subjectTokens: { validation: 'verify' },
    });
    const opaque = await issueOpaque(server);
    now = FROZEN_TIME + 90_000;
    const response = await exchangeSubject(server, opaque);
    await expectRejected(
      server,
      response,
      'expired 30 s ago (exp 2026-01-01T00:01:00Z, clock skew 30 s)',
    );
  });

  it('unknown opaque token rejected', async () => {
    const server = await startVerifyServer();
    const response = await exchangeSubject(server, 'exchanged-0123456789abcdef');
    await expectRejected(server, response, 'not a JWT: 1 dot-separated part instead of 3');
  });
});

describe('validation mode verify', () => {
  it.each(['test-rs256', 'test-ps256', 'test-es256', 'test-eddsa', 'test-rs256-next'])(
    'accepts own %s signature',
    async (key) => {
      const server = await startVerifyServer();
      const token = await signToken(userClaims(server.url), { key });
      const claims = await issuedClaims(await exchangeSubject(server, token));
      expect(claims.sub).toBe('user-42');
    },
  );

  it('accepts own issued JWT', async () => {
    const server = await startVerifyServer();
    const user = await signToken(userClaims(server.url, { scope: 'files.read' }));
    const first = await expectTokenResponse(await exchangeSubject(server, user));
    const second = await exchangeSubject(server, first.access_token as string);
    expect((await issuedClaims(second)).sub).toBe('user-42');
  });

  it('marks verified subject in log', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url));
    expect((await exchangeSubject(server, token)).status).toBe(200);
    const entry = await lastLogEntry(server.url);
    expect(entry.subjectToken?.jwt?.verified).toBe(true);
  });

  it('leaves unverified subject unmarked', async () => {
    const server = await startModeServer('jwt');
    const token = await signToken(userClaims(server.url));
    expect((await exchangeSubject(server, token)).status).toBe(200);
    const entry = await lastLogEntry(server.url);
    expect(entry.subjectToken?.jwt?.verified).toBe(false);
  });

  it('tries every key without kid', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url), { key: 'test-rs256-next', kid: null });
    expect((await exchangeSubject(server, token)).status).toBe(200);
  });

  it('rejects alg none', async () => {
    const server = await startVerifyServer();
    const token = compactToken({ alg: 'none', typ: 'at+jwt' }, userClaims(server.url));
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      'alg none is not accepted in verify mode',
    );
  });

  it('rejects HS256', async () => {
    const server = await startVerifyServer();
    const token = await new SignJWT(userClaims(server.url))
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .sign(new TextEncoder().encode('a shared secret of at least 32 bytes'));
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      'alg HS256 is not accepted; verify mode accepts RS256, PS256, ES256, EdDSA',
    );
  });

  it('rejects unknown kid', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url), { kid: 'test-xyz' });
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      `kid test-xyz not found in the keys of issuer ${server.url}`,
    );
  });

  it('rejects kid of other alg', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url), { key: 'test-ps256', kid: 'test-rs256' });
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      `key test-rs256 of issuer ${server.url} is for alg RS256 and does not accept alg PS256`,
    );
  });

  it('rejects no matching key', async () => {
    const server = await startVerifyServer({ keys: { file: OTHER_ISSUER_KEYS_FILE } });
    const token = await signToken(userClaims(server.url), { kid: null });
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      `no key of issuer ${server.url} accepts alg RS256, and the token has no kid`,
    );
  });

  it('rejects forged signature', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url), {
      key: 'other-issuer-es256',
      kid: 'test-es256',
    });
    await expectRejected(server, await exchangeSubject(server, token), 'signature does not verify');
  });

  it('rejects forged signature without kid', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url), {
      key: 'other-issuer-es256',
      kid: null,
    });
    await expectRejected(server, await exchangeSubject(server, token), 'signature does not verify');
  });

  it('rejects missing iss', async () => {
    const server = await startVerifyServer();
    const token = await signToken({ sub: 'user-42', exp: NOW + 60 });
    await expectRejected(server, await exchangeSubject(server, token), 'iss is missing');
  });

  it('rejects non-string iss', async () => {
    const server = await startVerifyServer();
    const token = await signToken({ iss: 42, sub: 'user-42' } as unknown as JWTPayload);
    await expectRejected(server, await exchangeSubject(server, token), 'iss is not a string');
  });

  it('rejects untrusted issuer', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims('https://evil.example'));
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      'issuer https://evil.example not trusted',
    );
  });

  it('rejects non-numeric exp', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url, { exp: 'soon' as unknown as number }));
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      'claim exp is invalid: "exp" claim must be a number',
    );
  });

  it('rejects invalid actor token', async () => {
    const server = await startVerifyServer();
    const user = await signToken(userClaims(server.url));
    const actor = await signToken({ iss: server.url, sub: 'agent-a', exp: NOW - 40 });
    const response = await exchangeSubject(server, user, {
      actor_token: actor,
      actor_token_type: ACCESS_TOKEN_TYPE,
    });
    await expectRejected(
      server,
      response,
      'expired 40 s ago (exp 2025-12-31T23:59:20Z, clock skew 30 s)',
      { description: 'actor_token is invalid' },
    );
  });

  it('empty sub gets fingerprint', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url, { sub: '' }));
    const claims = await issuedClaims(await exchangeSubject(server, token));
    expect(claims.sub).toBe(`${FINGERPRINT_SUBJECT}${fingerprint(token)}`);
  });
});

describe('expiry and not-before', () => {
  it('rejects token expired 40 s ago', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url, { exp: NOW - 40 }));
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      'expired 40 s ago (exp 2025-12-31T23:59:20Z, clock skew 30 s)',
    );
  });

  it('rejects exp at skew boundary', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url, { exp: NOW - 30 }));
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      'expired 30 s ago (exp 2025-12-31T23:59:30Z, clock skew 30 s)',
    );
  });

  it('accepts exp inside skew', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url, { exp: NOW - 29 }));
    expect((await exchangeSubject(server, token)).status).toBe(200);
  });

  it('accepts nbf at skew boundary', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url, { nbf: NOW + 30 }));
    expect((await exchangeSubject(server, token)).status).toBe(200);
  });

  it('rejects nbf beyond skew', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url, { nbf: NOW + 31 }));
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      'not valid before 2026-01-01T00:00:31Z, 31 s from now (clock skew 30 s)',
    );
  });

  it('rejects exp now without skew', async () => {
    const server = await startVerifyServer({ subjectTokens: { clockSkew: 0 } });
    const token = await signToken(userClaims(server.url, { exp: NOW }));
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      'expired 0 s ago (exp 2026-01-01T00:00:00Z, clock skew 0 s)',
    );
  });

  it('accepts exp next second without skew', async () => {
    const server = await startVerifyServer({ subjectTokens: { clockSkew: 0 } });
    const token = await signToken(userClaims(server.url, { exp: NOW + 1 }));
    expect((await exchangeSubject(server, token)).status).toBe(200);
  });
});

describe('client in audience', () => {
  const requireAudience = { subjectTokens: { requireClientInAudience: true } };

  it('accepts client in aud array', async () => {
    const server = await startVerifyServer(requireAudience);
    const token = await signToken(userClaims(server.url, { aud: ['api://x', 'litellm-client'] }));
    expect((await exchangeSubject(server, token)).status).toBe(200);
  });

  it('rejects client missing from aud', async () => {
    const server = await startVerifyServer(requireAudience);
    const token = await signToken(userClaims(server.url, { aud: 'api://other' }));
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      'client litellm-client is not in aud "api://other"',
    );
  });

  it('rejects token without aud', async () => {
    const server = await startVerifyServer(requireAudience);
    const token = await signToken(userClaims(server.url, { aud: undefined }));
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      'aud is missing, and subjectTokens.requireClientInAudience requires client litellm-client in it',
    );
  });

  it('does not apply to actor', async () => {
    const server = await startVerifyServer(requireAudience);
    const user = await signToken(userClaims(server.url, { aud: 'litellm-client' }));
    const actor = await signToken({ iss: server.url, sub: 'agent-a', aud: 'api://elsewhere' });
    const response = await exchangeSubject(server, user, {
      actor_token: actor,
      actor_token_type: ACCESS_TOKEN_TYPE,
    });
    expect(response.status).toBe(200);
  });

  it('off by default', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url, { aud: 'api://other' }));
    expect((await exchangeSubject(server, token)).status).toBe(200);
  });
});

describe('error code switch', () => {
  it('sends invalid_grant when configured', async () => {
    const server = await startVerifyServer({ subjectTokens: { errorCode: 'invalid_grant' } });
    const token = await signToken(userClaims('https://evil.example'));
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      'issuer https://evil.example not trusted',
      { error: 'invalid_grant' },
    );
  });

  it('applies to actor token', async () => {
    const server = await startVerifyServer({ subjectTokens: { errorCode: 'invalid_grant' } });
    const user = await signToken(userClaims(server.url));
    const response = await exchangeSubject(server, user, {
      actor_token: 'opaque-agent-token',
      actor_token_type: ACCESS_TOKEN_TYPE,
    });
    await expectRejected(server, response, 'not a JWT: 1 dot-separated part instead of 3', {
      error: 'invalid_grant',
      description: 'actor_token is invalid',
    });
  });

  it('leaves other errors alone', async () => {
    const server = await startVerifyServer({ subjectTokens: { errorCode: 'invalid_grant' } });
    const response = await exchangeSubject(server, UNSIGNED_USER_JWT, {
      subject_token_type: 'urn:ietf:params:oauth:token-type:saml2',
    });
    await expectOAuthError(response, 400, 'invalid_request', 'unsupported subject_token_type');
  });
});

describe('revoked subject tokens', () => {
  it.each(['none', 'jwt', 'verify'] as const)('rejects revoked jti in %s', async (validation) => {
    const server = await startVerifyServer({ subjectTokens: { validation } });
    const token = await signToken(userClaims(server.url, { jti: 'user-token-1' }));
    server.server.context.tokenIndex.revoke(revocationKey.jti('user-token-1'), NOW + 3600, NOW);
    await expectRejected(server, await exchangeSubject(server, token), 'subject token was revoked');
  });

  it('rejects revoked fingerprint', async () => {
    const server = await startVerifyServer();
    const token = await signToken(userClaims(server.url));
    const key = revocationKey.fingerprint(fingerprint(token));
    server.server.context.tokenIndex.revoke(key, NOW + 3600, NOW);
    await expectRejected(server, await exchangeSubject(server, token), 'subject token was revoked');
  });

  it('rejects revoked actor token', async () => {
    const server = await startVerifyServer();
    const user = await signToken(userClaims(server.url));
    const actor = await signToken({ iss: server.url, sub: 'agent-a', jti: 'agent-token-1' });
    server.server.context.tokenIndex.revoke(revocationKey.jti('agent-token-1'), NOW + 60, NOW);
    const response = await exchangeSubject(server, user, {
      actor_token: actor,
      actor_token_type: ACCESS_TOKEN_TYPE,
    });
    await expectRejected(server, response, 'actor token was revoked', {
      description: 'actor_token is invalid',
    });
  });
});

describe('trusted issuers', () => {
  it('verifies inline keys', async () => {
    const server = await startVerifyServer({
      subjectTokens: {
        trustedIssuers: [{ issuer: OTHER_ISSUER, keys: [publicJwk('other-issuer-es256')] }],
      },
    });
    const token = await signToken(userClaims(OTHER_ISSUER), { key: 'other-issuer-es256' });
    const claims = await issuedClaims(await exchangeSubject(server, token));
    expect(claims.sub).toBe('user-42');
  });

  it('verifies jwksFile keys', async () => {
    const server = await startVerifyServer({
      subjectTokens: {
        trustedIssuers: [{ issuer: OTHER_ISSUER, jwksFile: OTHER_ISSUER_KEYS_FILE }],
      },
    });
    const token = await signToken(userClaims(OTHER_ISSUER), { key: 'other-issuer-es256' });
    expect((await exchangeSubject(server, token)).status).toBe(200);
  });

  it('keeps issuers keys apart', async () => {
    const server = await startVerifyServer({
      subjectTokens: {
        trustedIssuers: [{ issuer: OTHER_ISSUER, jwksFile: OTHER_ISSUER_KEYS_FILE }],
      },
    });
    const token = await signToken(userClaims(OTHER_ISSUER), { key: 'test-es256' });
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      `kid test-es256 not found in the keys of issuer ${OTHER_ISSUER}`,
    );
  });

  it('rejects own token signed elsewhere', async () => {
    const server = await startVerifyServer({
      subjectTokens: {
        trustedIssuers: [{ issuer: OTHER_ISSUER, jwksFile: OTHER_ISSUER_KEYS_FILE }],
      },
    });
    const token = await signToken(userClaims(server.url), { key: 'other-issuer-es256' });
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      `kid other-issuer-es256 not found in the keys of issuer ${server.url}`,
    );
  });

  it('verifies jwksUri keys', async () => {
    const other = await startServer({ keys: { file: OTHER_ISSUER_KEYS_FILE } });
    const server = await startVerifyServer({
      subjectTokens: {
        trustedIssuers: [{ issuer: OTHER_ISSUER, jwksUri: `${other.url}/.well-known/jwks.json` }],
      },
    });
    const token = await signToken(userClaims(OTHER_ISSUER), { key: 'other-issuer-es256' });
    const claims = await issuedClaims(await exchangeSubject(server, token));
    expect(claims.sub).toBe('user-42');
  });

  it('rejects unknown kid at jwksUri', async () => {
    const other = await startServer({ keys: { file: OTHER_ISSUER_KEYS_FILE } });
    const server = await startVerifyServer({
      subjectTokens: {
        trustedIssuers: [{ issuer: OTHER_ISSUER, jwksUri: `${other.url}/.well-known/jwks.json` }],
      },
    });
    const token = await signToken(userClaims(OTHER_ISSUER), {
      key: 'other-issuer-es256',
      kid: 'rotated-away',
    });
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      `kid rotated-away not found in the keys of issuer ${OTHER_ISSUER}`,
    );
  });

  it('fetches jwksUri once', async () => {
    const jwks = await startJwksServer({ keys: [publicJwk('other-issuer-es256')] });
    const server = await startVerifyServer({
      subjectTokens: { trustedIssuers: [{ issuer: OTHER_ISSUER, jwksUri: jwks.url }] },
    });
    const first = await signToken(userClaims(OTHER_ISSUER), { key: 'other-issuer-es256' });
    const second = await signToken(userClaims(OTHER_ISSUER, { sub: 'user-43' }), {
      key: 'other-issuer-es256',
    });
    expect((await exchangeSubject(server, first)).status).toBe(200);
    expect((await exchangeSubject(server, second)).status).toBe(200);
    expect(jwks.requests()).toBe(1);
  });

  it('reports unreachable jwksUri', async () => {
    const jwks = await startJwksServer({ keys: [] });
    await jwks.close();
    const server = await startVerifyServer({
      subjectTokens: { trustedIssuers: [{ issuer: OTHER_ISSUER, jwksUri: jwks.url }] },
    });
    const token = await signToken(userClaims(OTHER_ISSUER), { key: 'other-issuer-es256' });
    const port = new URL(jwks.url).port;
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      `the JWKS of issuer ${OTHER_ISSUER} could not be fetched from ${jwks.url}: fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
  });

  it('reports jwksUri error status', async () => {
    const jwks = await startJwksServer({ keys: [] }, 500);
    const server = await startVerifyServer({
      subjectTokens: { trustedIssuers: [{ issuer: OTHER_ISSUER, jwksUri: jwks.url }] },
    });
    const token = await signToken(userClaims(OTHER_ISSUER), { key: 'other-issuer-es256' });
    await expectRejected(
      server,
      await exchangeSubject(server, token),
      `the JWKS of issuer ${OTHER_ISSUER} could not be fetched from ${jwks.url}: the JWKS response has HTTP status 500, not 200`,
    );
  });
});

describe('trusted issuer startup', () => {
  async function startupError(trustedIssuers: TrustedIssuerInput[]): Promise<unknown> {
    const server = createServer({
      logLevel: 'silent',
      subjectTokens: { validation: 'verify', trustedIssuers },
    });
    try {
      await server.ready();
      return undefined;
    } catch (error) {
      return error;
    } finally {
      await server.close();
    }
  }

  it('rejects missing jwksFile', async () => {
    const error = await startupError([
      { issuer: OTHER_ISSUER, jwksFile: '/nonexistent/jwks.json' },
    ]);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      "subjectTokens.trustedIssuers[0].jwksFile: cannot read /nonexistent/jwks.json: ENOENT: no such file or directory, open '/nonexistent/jwks.json'",
    );
  });

  it('rejects jwksFile without keys', async () => {
    const error = await startupError([
      { issuer: OTHER_ISSUER, jwksFile: fixturePath('../../package.json') },
    ]);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      `subjectTokens.trustedIssuers[0].jwksFile ${fixturePath('../../package.json')} must be a JWKS: an object with a non-empty "keys" array`,
    );
  });

  it('rejects key without kty', async () => {
    const error = await startupError([{ issuer: OTHER_ISSUER, keys: [{ kid: 'k' }] }]);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'subjectTokens.trustedIssuers[0].keys: keys[0] is not a JWK with a "kty"',
    );
  });

  it('rejects duplicate issuer', async () => {
    const keys = [publicJwk('other-issuer-es256')];
    const error = await startupError([
      { issuer: OTHER_ISSUER, keys },
      { issuer: OTHER_ISSUER, keys },
    ]);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      `subjectTokens.trustedIssuers[1].issuer: duplicate issuer ${OTHER_ISSUER}`,
    );
  });
});

describe('subject validation CLI option', () => {
  it('flag selects jwt mode', async () => {
    const cli = await startCli(['--subject-validation', 'jwt'], {});
    const response = await exchangeSubject(cli, 'opaque-user-token');
    await expectOAuthError(response, 400, 'invalid_request', 'subject_token is invalid');
  });

  it('env variable selects jwt mode', async () => {
    const cli = await startCli([], { MTES_SUBJECT_VALIDATION: 'jwt' });
    const response = await exchangeSubject(cli, 'opaque-user-token');
    await expectOAuthError(response, 400, 'invalid_request', 'subject_token is invalid');
  });

  it('empty env variable ignored', async () => {
    const cli = await startCli([], { MTES_SUBJECT_VALIDATION: '' });
    expect((await exchangeSubject(cli, 'opaque-user-token')).status).toBe(200);
  });

  it('unknown mode exits 2', async () => {
    const result = await runCli(['--subject-validation', 'strict']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "error: option '--subject-validation <mode>' argument 'strict' is invalid. must be one of none, jwt, verify.",
    );
  });
});

function fixturePath(relative: string): string {
  return fileURLToPath(new URL(`./fixtures/${relative}`, import.meta.url));
}

interface JwksServer {
  url: string;
  requests(): number;
  close(): Promise<void>;
}

const jwksServers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    jwksServers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          if (!server.listening) resolve();
          else server.close(() => resolve());
        }),
    ),
  );
});

/** Serves a JWKS on a free loopback port and counts the requests for it. */
async function startJwksServer(jwks: object, status = 200): Promise<JwksServer> {
  let requests = 0;
  const server = createHttpServer((_request, response) => {
    requests += 1;
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(jwks));
  });
  jwksServers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const BANNER = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

function spawnCli(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [CLI, '--port', '0', '--log-level', 'silent', ...args], {
    cwd: join(fileURLToPath(new URL('..', import.meta.url))),
    env: { ...process.env, MTES_SUBJECT_VALIDATION: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

/** Starts the CLI on a free port and resolves once its banner names the URL. */
async function startCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ url: string; tokenUrl: string }> {
  const child = spawnCli(args, env);
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = BANNER.exec(stdout);
      if (match?.[1]) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`the CLI exited with status ${code}`)));
  });
  return { url, tokenUrl: `${url}/oauth2/token` };
}

/** Runs the CLI until it exits and returns its status and standard error. */
async function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawnCli(args, {});
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stderr };
}
