import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  ACCESS_TOKEN_TYPE,
  exchangeBody,
  FROZEN_TIME,
  startServer,
  UNSIGNED_USER_JWT,
} from './helpers.js';
import {
  accessTokenClaims,
  FROZEN_SECONDS,
  fixtureKey,
  introspect,
  introspectBody,
  OTHER_ISSUER_KEYS_FILE,
  postForm,
  RESOURCE_SERVER,
  revoke,
  SIGNING_KEYS_FILE,
  signJwt,
  steppingClock,
  unsignedJwt,
} from './introspection-helpers.js';
import {
  BASIC_CHALLENGE,
  expectOAuthError,
  issueToken,
  logEntries,
  readJson,
} from './token-assertions.js';

const INTROSPECTION_PATH = '/oauth2/introspect';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const INACTIVE = { active: false };

/** Server settings that issue JWTs signed by the fixture key `kid`. */
function jwtSettings(kid: string) {
  return { tokenFormat: 'jwt' as const, keys: { file: SIGNING_KEYS_FILE, activeKeyId: kid } };
}

describe('introspection of active tokens', () => {
  it('reports an active opaque token', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());

    const body = await introspectBody(url, token);

    expect(body).toStrictEqual({
      active: true,
      token_type: 'Bearer',
      scope: 'mcp.tools.read mcp.tools.execute',
      client_id: 'litellm-client',
      exp: FROZEN_SECONDS + 3600,
      iat: FROZEN_SECONDS,
      sub: 'user-123',
      aud: 'api://my-mcp-server',
      iss: url,
      jti: expect.stringMatching(UUID),
    });
  });

  it.each(['test-rs256', 'test-ps256', 'test-es256', 'test-eddsa'])(
    'reports an active JWT signed by %s',
    async (kid) => {
      const { url, tokenUrl } = await startServer(jwtSettings(kid));
      const token = await issueToken(tokenUrl, exchangeBody());

      const body = await introspectBody(url, token);

      expect(body).toStrictEqual({
        active: true,
        token_type: 'Bearer',
        scope: 'mcp.tools.read mcp.tools.execute',
        client_id: 'litellm-client',
        exp: FROZEN_SECONDS + 3600,
        iat: FROZEN_SECONDS,
        sub: 'user-123',
        aud: 'api://my-mcp-server',
        iss: url,
        jti: decodeJwt(token).jti,
      });
    },
  );

  it('verifies JWT of rotated key', async () => {
    const issuing = await startServer(jwtSettings('test-rs256'));
    const token = await issueToken(issuing.tokenUrl, exchangeBody());
    const rotated = await startServer(jwtSettings('test-rs256-next'));

    const body = (await introspectBody(rotated.url, token)) as Record<string, unknown>;

    expect(body.active).toBe(true);
    expect(body.jti).toBe(decodeJwt(token).jti);
  });

  it('reports act of delegated token', async () => {
    const { url, tokenUrl } = await startServer();
    const actorToken = unsignedJwt({ sub: 'agent-7', iss: 'https://agents.example' });
    const token = await issueToken(
      tokenUrl,
      exchangeBody({ actor_token: actorToken, actor_token_type: ACCESS_TOKEN_TYPE }),
    );

    const body = (await introspectBody(url, token)) as Record<string, unknown>;

    expect(body.active).toBe(true);
    expect(body.sub).toBe('user-123');
    expect(body.act).toStrictEqual({ sub: 'agent-7', iss: 'https://agents.example' });
  });

  it('reports nested act in JWT', async () => {
    const { url, tokenUrl } = await startServer(jwtSettings('test-es256'));
    const subjectToken = unsignedJwt({ sub: 'user-123', act: { sub: 'gateway' } });
    const actorToken = unsignedJwt({ sub: 'agent-7' });
    const token = await issueToken(
      tokenUrl,
      exchangeBody({
        subject_token: subjectToken,
        actor_token: actorToken,
        actor_token_type: ACCESS_TOKEN_TYPE,
      }),
    );

    const body = (await introspectBody(url, token)) as Record<string, unknown>;

    expect(body.act).toStrictEqual({ sub: 'agent-7', act: { sub: 'gateway' } });
  });

  it('omits absent scope and act', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody({ scope: undefined }));

    const body = (await introspectBody(url, token)) as Record<string, unknown>;

    expect(body.active).toBe(true);
    expect(Object.keys(body)).not.toContain('scope');
    expect(Object.keys(body)).not.toContain('act');
  });

  it('reports multiple audiences as array', async () => {
    const { url, tokenUrl } = await startServer();
    const body = `${exchangeBody()}&resource=${encodeURIComponent('https://api.example/')}`;
    const token = await issueToken(tokenUrl, body);

    const introspected = (await introspectBody(url, token)) as Record<string, unknown>;

    expect(introspected.aud).toStrictEqual(['api://my-mcp-server', 'https://api.example/']);
  });

  it('ignores a wrong token_type_hint', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());

    const response = await introspect(url, token, { token_type_hint: 'refresh_token' });

    expect(response.status).toBe(200);
    expect(((await readJson(response)) as Record<string, unknown>).active).toBe(true);
  });

  it('accepts Basic client authentication', async () => {
    const { url, tokenUrl } = await startServer({
      clients: [
        { clientId: 'litellm-client', clientSecret: 'litellm-secret' },
        { clientId: 'resource-server', clientSecret: 'rs-secret' },
      ],
    });
    const token = await issueToken(tokenUrl, exchangeBody());
    const basic = Buffer.from('resource-server:rs-secret').toString('base64');

    const response = await postForm(
      url,
      INTROSPECTION_PATH,
      { token },
      {
        authorization: `Basic ${basic}`,
      },
    );

    expect(response.status).toBe(200);
    expect(((await readJson(response)) as Record<string, unknown>).active).toBe(true);
  });

  it('keeps an opaque token active until exp', async () => {
    const clock = steppingClock();
    const { url, tokenUrl } = await startServer({ clock });
    const token = await issueToken(tokenUrl, exchangeBody());

    clock.advanceSeconds(3599);

    expect(((await introspectBody(url, token)) as Record<string, unknown>).active).toBe(true);
  });
});

describe('introspection of inactive tokens', () => {
  it.each([
    ['an unknown opaque token', 'exchanged-0123456789abcdef-for-api://my-mcp-server'],
    ['a random string', 'not a token'],
    ['a three-part string', 'a.b.c'],
    ['an unsigned JWT', UNSIGNED_USER_JWT],
  ])('reports %s as inactive', async (_case, token) => {
    const { url } = await startServer(jwtSettings('test-es256'));

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports an expired opaque token', async () => {
    const clock = steppingClock();
    const { url, tokenUrl } = await startServer({ clock });
    const token = await issueToken(tokenUrl, exchangeBody());

    clock.advanceSeconds(3600);

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports an opaque token issued expired', async () => {
    const { url, tokenUrl } = await startServer();
    const subjectToken = unsignedJwt({ sub: 'user-123', exp: FROZEN_SECONDS - 10 });
    const token = await issueToken(tokenUrl, exchangeBody({ subject_token: subjectToken }));

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports an expired JWT', async () => {
    const issuing = await startServer(jwtSettings('test-es256'));
    const token = await issueToken(issuing.tokenUrl, exchangeBody());
    const later = await startServer({
      ...jwtSettings('test-es256'),
      clock: { now: () => FROZEN_TIME + 3600 * 1000 },
    });

    expect(await introspectBody(later.url, token)).toStrictEqual(INACTIVE);
  });

  it('keeps a JWT active until exp', async () => {
    const issuing = await startServer(jwtSettings('test-es256'));
    const token = await issueToken(issuing.tokenUrl, exchangeBody());
    const later = await startServer({
      ...jwtSettings('test-es256'),
      clock: { now: () => FROZEN_TIME + 3599 * 1000 },
    });

    const body = (await introspectBody(later.url, token)) as Record<string, unknown>;

    expect(body.active).toBe(true);
  });

  it('reports a revoked opaque token', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());
    expect((await revoke(url, token)).status).toBe(200);

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports a revoked JWT', async () => {
    const { url, tokenUrl } = await startServer(jwtSettings('test-es256'));
    const token = await issueToken(tokenUrl, exchangeBody());
    expect((await revoke(url, token)).status).toBe(200);

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports an unknown kid', async () => {
    const { url } = await startServer(jwtSettings('test-es256'));
    const key = fixtureKey(SIGNING_KEYS_FILE, 'test-es256');
    const token = await signJwt(key, accessTokenClaims(url), { kid: 'no-such-kid' });

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports a JWT without kid', async () => {
    const { url } = await startServer(jwtSettings('test-es256'));
    const key = fixtureKey(SIGNING_KEYS_FILE, 'test-es256');
    const token = await signJwt(key, accessTokenClaims(url), { kid: undefined });

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports a kid with another alg', async () => {
    const { url } = await startServer(jwtSettings('test-es256'));
    const key = fixtureKey(SIGNING_KEYS_FILE, 'test-es256');
    const token = await signJwt(key, accessTokenClaims(url), { kid: 'test-rs256' });

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports another issuer JWT', async () => {
    const { url } = await startServer(jwtSettings('test-es256'));
    const key = fixtureKey(OTHER_ISSUER_KEYS_FILE, 'other-issuer-es256');
    const token = await signJwt(key, accessTokenClaims(url));

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports a forged JWT', async () => {
    const { url } = await startServer(jwtSettings('test-es256'));
    const key = fixtureKey(OTHER_ISSUER_KEYS_FILE, 'other-issuer-es256');
    const token = await signJwt(key, accessTokenClaims(url), { kid: 'test-es256' });

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports a JWT with tampered claims', async () => {
    const { url, tokenUrl } = await startServer(jwtSettings('test-es256'));
    const [header, , signature] = (await issueToken(tokenUrl, exchangeBody())).split('.');
    const claims = Buffer.from(JSON.stringify(accessTokenClaims(url, { sub: 'admin' })));
    const token = `${header}.${claims.toString('base64url')}.${signature}`;

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports a JWT without at+jwt typ', async () => {
    const { url } = await startServer(jwtSettings('test-es256'));
    const key = fixtureKey(SIGNING_KEYS_FILE, 'test-es256');
    const token = await signJwt(key, accessTokenClaims(url), { typ: 'JWT' });

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports a JWT without client_id', async () => {
    const { url } = await startServer(jwtSettings('test-es256'));
    const key = fixtureKey(SIGNING_KEYS_FILE, 'test-es256');
    const token = await signJwt(key, accessTokenClaims(url, { client_id: undefined }));

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('reports a valid fixture-signed JWT active', async () => {
    // Control for the cases above: the same construction with nothing wrong is active.
    const { url } = await startServer(jwtSettings('test-es256'));
    const key = fixtureKey(SIGNING_KEYS_FILE, 'test-es256');
    const token = await signJwt(key, accessTokenClaims(url));

    const body = (await introspectBody(url, token)) as Record<string, unknown>;

    expect(body.active).toBe(true);
    expect(body.jti).toBe('b1f4c1de-0000-4000-8000-000000000001');
  });

  it('evicts the oldest opaque token', async () => {
    const { url, tokenUrl, server } = await startServer({ tokenIndexSize: 2 });
    const tokens: string[] = [];
    for (const subject of ['user-1', 'user-2', 'user-3']) {
      tokens.push(await issueToken(tokenUrl, exchangeBody({ subject_token: subject })));
    }
    const [first, second, third] = tokens as [string, string, string];

    expect(await introspectBody(url, first)).toStrictEqual(INACTIVE);
    expect(((await introspectBody(url, second)) as Record<string, unknown>).active).toBe(true);
    expect(((await introspectBody(url, third)) as Record<string, unknown>).active).toBe(true);
    expect(server.context.tokenIndex.issuedCount).toBe(2);
  });
});

describe('introspection request errors', () => {
  it('requires the token parameter', async () => {
    const { url } = await startServer();

    const response = await postForm(url, INTROSPECTION_PATH, { ...RESOURCE_SERVER });

    await expectOAuthError(response, 400, 'invalid_request', 'missing required parameter token');
  });

  it('rejects a repeated token', async () => {
    const { url } = await startServer();

    const response = await fetch(`${url}${INTROSPECTION_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=a&token=b&client_id=resource-server',
    });

    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'parameter token must not be repeated',
    );
  });

  it('requires client authentication', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());

    const response = await postForm(url, INTROSPECTION_PATH, { token });

    expect(response.headers.get('www-authenticate')).toBe(BASIC_CHALLENGE);
    await expectOAuthError(response, 401, 'invalid_client', 'client authentication is required');
  });

  it('authenticates before reading the token', async () => {
    const { url } = await startServer();

    const response = await postForm(url, INTROSPECTION_PATH, {});

    await expectOAuthError(response, 401, 'invalid_client', 'client authentication is required');
  });

  it('rejects a wrong client secret', async () => {
    const { url, tokenUrl } = await startServer({
      clients: [
        { clientId: 'litellm-client', clientSecret: 'litellm-secret' },
        { clientId: 'resource-server', clientSecret: 'rs-secret' },
      ],
    });
    const token = await issueToken(tokenUrl, exchangeBody());

    const response = await introspect(url, token, { client_secret: 'wrong' });

    expect(response.headers.get('www-authenticate')).toBe(BASIC_CHALLENGE);
    await expectOAuthError(response, 401, 'invalid_client', 'client authentication failed');
  });

  it('rejects a JSON body', async () => {
    const { url } = await startServer();

    const response = await fetch(`${url}${INTROSPECTION_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'a', ...RESOURCE_SERVER }),
    });

    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'request body must be application/x-www-form-urlencoded',
    );
  });

  it('rejects a client secret in the query', async () => {
    const { url } = await startServer();

    const response = await postForm(url, `${INTROSPECTION_PATH}?client_secret=rs-secret`, {
      token: 'a',
      client_id: 'resource-server',
    });

    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'client credentials must not be sent in the URL query',
    );
  });

  it('answers GET with 405', async () => {
    const { url } = await startServer();

    const response = await fetch(`${url}${INTROSPECTION_PATH}`);

    expect(response.headers.get('allow')).toBe('POST');
    await expectOAuthError(response, 405, 'invalid_request', 'method not allowed, use POST');
  });

  it('stays out of the request log', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());

    await introspectBody(url, token);

    expect((await logEntries(url)).map((entry) => entry.grantType)).toStrictEqual([
      'urn:ietf:params:oauth:grant-type:token-exchange',
    ]);
  });

  it('logs neither token nor secret', async () => {
    const { url, tokenUrl, logText } = await startServer({ logLevel: 'trace' });
    const token = await issueToken(tokenUrl, exchangeBody());

    await introspectBody(url, token);
    await introspectBody(url, 'unknown-secret-token-value');

    expect(logText()).not.toContain(token);
    expect(logText()).not.toContain('unknown-secret-token-value');
    expect(logText()).not.toContain(RESOURCE_SERVER.client_secret);
  });
});
