import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, decodeJwt, type JWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  ACCESS_TOKEN_TYPE,
  basicHeader,
  FROZEN_TIME,
  form,
  postToken,
  startServer,
  TOKEN_EXCHANGE,
  UNSIGNED_USER_JWT,
} from './helpers.js';
import {
  BASIC_CHALLENGE,
  expectOAuthError,
  expectTokenResponse,
  lastLogEntry,
} from './token-assertions.js';

const KEYS_FILE = fileURLToPath(new URL('./fixtures/signing-keys.json', import.meta.url));
const NOW = FROZEN_TIME / 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const SERVICE = { clientId: 'reporting-service', clientSecret: 'reporting-secret' };

/** Builds a client credentials body for {@link SERVICE}, authenticated by client_secret_post. */
function grantBody(extra: Array<[string, string]> = []): string {
  return form([
    ['grant_type', 'client_credentials'],
    ['client_id', SERVICE.clientId],
    ['client_secret', SERVICE.clientSecret],
    ...extra,
  ]);
}

/** Computes `issued-<hash>` from a canonical input written out in full. */
function expectedHash(canonicalInput: string): string {
  return createHash('sha256').update(canonicalInput, 'utf8').digest('hex').slice(0, 16);
}

async function publicKeysOf(server: Awaited<ReturnType<typeof startServer>>['server']) {
  const jwks = (await server.context.keys()).publicJwks() as { keys: JWK[] };
  return createLocalJWKSet(jwks);
}

describe('client_credentials opaque tokens', () => {
  it('issues pinned token for audience', async () => {
    const { tokenUrl } = await startServer();

    const response = await postToken(
      tokenUrl,
      grantBody([
        ['audience', 'api://my-mcp-server'],
        ['scope', 'mcp.tools.read'],
      ]),
    );

    expect(await expectTokenResponse(response)).toEqual({
      access_token: 'issued-de25bb722bbd622d-for-api://my-mcp-server',
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'mcp.tools.read',
    });
  });

  it('hash follows canonical input', async () => {
    const { tokenUrl } = await startServer();

    const response = await postToken(
      tokenUrl,
      grantBody([
        ['resource', 'https://b.example/'],
        ['audience', 'api://a'],
        ['scope', 'write read'],
      ]),
    );

    const hash = expectedHash(
      '["v1","client_credentials","reporting-service",["api://a"],["https://b.example/"],["read","write"]]',
    );
    const json = await expectTokenResponse(response);
    expect(json.access_token).toBe(`issued-${hash}-for-api://a,https://b.example/`);
  });

  it('omits targets and scope', async () => {
    const { tokenUrl } = await startServer();

    const response = await postToken(tokenUrl, grantBody());

    const hash = expectedHash('["v1","client_credentials","reporting-service",[],[],[]]');
    expect(await expectTokenResponse(response)).toEqual({
      access_token: `issued-${hash}`,
      token_type: 'Bearer',
      expires_in: 3600,
    });
  });

  it('ignores order of scopes', async () => {
    const { tokenUrl } = await startServer();

    const first = await postToken(tokenUrl, grantBody([['scope', 'a b']]));
    const second = await postToken(tokenUrl, grantBody([['scope', 'b a']]));

    const firstJson = await expectTokenResponse(first);
    const secondJson = await expectTokenResponse(second);
    expect(secondJson.access_token).toBe(firstJson.access_token);
    expect(secondJson.scope).toBe('b a');
  });

  it('differs per client', async () => {
    const { tokenUrl } = await startServer();

    const first = await postToken(tokenUrl, grantBody());
    const second = await postToken(
      tokenUrl,
      form({ grant_type: 'client_credentials', client_id: 'other', client_secret: 's' }),
    );

    const firstJson = await expectTokenResponse(first);
    const secondJson = await expectTokenResponse(second);
    expect(secondJson.access_token).not.toBe(firstJson.access_token);
  });

  it('accepts client_secret_basic', async () => {
    const { tokenUrl } = await startServer({ clients: [SERVICE] });

    const response = await postToken(tokenUrl, form({ grant_type: 'client_credentials' }), {
      authorization: basicHeader(SERVICE.clientId, SERVICE.clientSecret),
    });

    const hash = expectedHash('["v1","client_credentials","reporting-service",[],[],[]]');
    expect(await expectTokenResponse(response)).toEqual({
      access_token: `issued-${hash}`,
      token_type: 'Bearer',
      expires_in: 3600,
    });
  });

  it('uses configured token lifetime', async () => {
    const { tokenUrl } = await startServer({ tokenTtl: 120 });

    const response = await postToken(tokenUrl, grantBody());

    const json = await expectTokenResponse(response);
    expect(json.expires_in).toBe(120);
  });

  it('leaves exchange tokens unchanged', async () => {
    const { tokenUrl } = await startServer();

    const response = await postToken(
      tokenUrl,
      form({
        grant_type: TOKEN_EXCHANGE,
        subject_token: UNSIGNED_USER_JWT,
        subject_token_type: ACCESS_TOKEN_TYPE,
        audience: 'api://my-mcp-server',
        scope: 'mcp.tools.read mcp.tools.execute',
        client_id: 'litellm-client',
        client_secret: 'litellm-secret',
      }),
    );

    const json = await expectTokenResponse(response);
    expect(json.access_token).toBe('exchanged-53a23a852c28f3be-for-api://my-mcp-server');
  });
});

describe('client_credentials JWTs', () => {
  it('issues JWT with issuer audience', async () => {
    const { server, url, tokenUrl } = await startServer({
      tokenFormat: 'jwt',
      keys: { file: KEYS_FILE },
    });

    const response = await postToken(tokenUrl, grantBody([['scope', 'reports.read']]));

    const json = await expectTokenResponse(response);
    expect(Object.keys(json)).toEqual(['access_token', 'token_type', 'expires_in', 'scope']);
    const { payload, protectedHeader } = await jwtVerify(
      json.access_token as string,
      await publicKeysOf(server),
      { issuer: url, audience: url, typ: 'at+jwt', currentDate: new Date(FROZEN_TIME) },
    );
    expect(protectedHeader).toEqual({ alg: 'RS256', kid: 'test-rs256', typ: 'at+jwt' });
    expect(payload).toEqual({
      iss: url,
      sub: 'reporting-service',
      aud: url,
      client_id: 'reporting-service',
      scope: 'reports.read',
      iat: NOW,
      exp: NOW + 3600,
      jti: expect.stringMatching(UUID),
    });
  });

  it('puts every target in aud', async () => {
    const { tokenUrl } = await startServer({ tokenFormat: 'jwt' });

    const response = await postToken(
      tokenUrl,
      grantBody([
        ['audience', 'api://a'],
        ['resource', 'https://b.example/'],
      ]),
    );

    const json = await expectTokenResponse(response);
    expect(decodeJwt(json.access_token as string).aud).toEqual(['api://a', 'https://b.example/']);
  });

  it('follows per-client format and claims', async () => {
    const { tokenUrl } = await startServer({
      clients: [{ ...SERVICE, tokenFormat: 'jwt', claims: { tenant: 't-1' } }],
    });

    const response = await postToken(tokenUrl, grantBody());

    const json = await expectTokenResponse(response);
    const claims = decodeJwt(json.access_token as string);
    expect(claims.tenant).toBe('t-1');
    expect(claims.sub).toBe('reporting-service');
  });

  it('follows per-audience format', async () => {
    const { tokenUrl } = await startServer({
      audiences: { 'api://jwt-api': { tokenFormat: 'jwt', claims: { level: 2 } } },
    });

    const response = await postToken(tokenUrl, grantBody([['audience', 'api://jwt-api']]));

    const json = await expectTokenResponse(response);
    const claims = decodeJwt(json.access_token as string);
    expect(claims.aud).toBe('api://jwt-api');
    expect(claims.level).toBe(2);
  });

  it('registered claims win over configured', async () => {
    const { tokenUrl } = await startServer({
      tokenFormat: 'jwt',
      claims: { sub: 'someone-else', department: 'finance' },
    });

    const response = await postToken(tokenUrl, grantBody());

    const json = await expectTokenResponse(response);
    const claims = decodeJwt(json.access_token as string);
    expect(claims.sub).toBe('reporting-service');
    expect(claims.department).toBe('finance');
  });
});

describe('client_credentials rejections', () => {
  it('rejects client_id alone', async () => {
    const { tokenUrl } = await startServer();

    const response = await postToken(
      tokenUrl,
      form({ grant_type: 'client_credentials', client_id: SERVICE.clientId }),
    );

    await expectOAuthError(
      response,
      400,
      'unauthorized_client',
      'the client_credentials grant requires a client secret',
    );
  });

  it('rejects registered public client', async () => {
    const { tokenUrl } = await startServer({ clients: [SERVICE, { clientId: 'spa' }] });

    const response = await postToken(
      tokenUrl,
      form({ grant_type: 'client_credentials', client_id: 'spa' }),
    );

    await expectOAuthError(
      response,
      400,
      'unauthorized_client',
      'the client_credentials grant requires a client secret',
    );
  });

  it('rejects confidential client without secret', async () => {
    const { tokenUrl } = await startServer({ clients: [SERVICE] });

    const response = await postToken(
      tokenUrl,
      form({ grant_type: 'client_credentials', client_id: SERVICE.clientId }),
    );

    expect(response.headers.get('www-authenticate')).toBe(BASIC_CHALLENGE);
    await expectOAuthError(response, 401, 'invalid_client', 'client authentication failed');
  });

  it('rejects wrong secret', async () => {
    const { tokenUrl } = await startServer({ clients: [SERVICE] });

    const response = await postToken(
      tokenUrl,
      form({ grant_type: 'client_credentials', client_id: SERVICE.clientId, client_secret: 'x' }),
    );

    expect(response.headers.get('www-authenticate')).toBe(BASIC_CHALLENGE);
    await expectOAuthError(response, 401, 'invalid_client', 'client authentication failed');
  });

  it('rejects missing client authentication', async () => {
    const { tokenUrl } = await startServer();

    const response = await postToken(tokenUrl, form({ grant_type: 'client_credentials' }));

    await expectOAuthError(response, 401, 'invalid_client', 'client authentication is required');
  });

  it('rejects malformed scope', async () => {
    const { tokenUrl } = await startServer();

    const response = await postToken(tokenUrl, grantBody([['scope', 'a  b']]));

    await expectOAuthError(
      response,
      400,
      'invalid_scope',
      'scope must be scope tokens separated by single spaces',
    );
  });

  it('rejects repeated scope', async () => {
    const { tokenUrl } = await startServer();

    const response = await postToken(
      tokenUrl,
      grantBody([
        ['scope', 'a'],
        ['scope', 'b'],
      ]),
    );

    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'parameter scope must not be repeated',
    );
  });

  it('rejects relative resource', async () => {
    const { tokenUrl } = await startServer();

    const response = await postToken(tokenUrl, grantBody([['resource', '/api']]));

    await expectOAuthError(response, 400, 'invalid_target', 'resource must be an absolute URI');
  });

  it('rejects too many targets', async () => {
    const { tokenUrl } = await startServer({ maxTargets: 1 });

    const response = await postToken(
      tokenUrl,
      grantBody([
        ['audience', 'api://a'],
        ['audience', 'api://b'],
      ]),
    );

    await expectOAuthError(
      response,
      400,
      'invalid_target',
      'too many audience and resource values, at most 1',
    );
  });
});

describe('client_credentials request log', () => {
  it('records the grant', async () => {
    const { url, tokenUrl } = await startServer();
    const json = await expectTokenResponse(
      await postToken(tokenUrl, grantBody([['scope', 'reports.read']])),
    );

    const entry = await lastLogEntry(url);

    expect(entry).toEqual({
      id: expect.any(String),
      time: '2026-01-01T00:00:00.000Z',
      client: { id: 'reporting-service', authMethod: 'client_secret_post', authenticated: true },
      grantType: 'client_credentials',
      subject: null,
      subjectToken: null,
      actorToken: null,
      audiences: [],
      resources: [],
      requestedScope: 'reports.read',
      grantedScope: 'reports.read',
      requestedTokenType: null,
      issuedToken: {
        type: ACCESS_TOKEN_TYPE,
        fingerprint: createHash('sha256')
          .update(json.access_token as string)
          .digest('hex')
          .slice(0, 16),
        jwt: null,
      },
      rule: null,
      outcome: { status: 200 },
    });
  });

  it('records unauthorized_client detail', async () => {
    const { url, tokenUrl } = await startServer();
    await postToken(tokenUrl, form({ grant_type: 'client_credentials', client_id: 'spa' }));

    const entry = await lastLogEntry(url);

    expect(entry.outcome).toEqual({
      status: 400,
      error: 'unauthorized_client',
      errorDescription: 'the client_credentials grant requires a client secret',
      detail: 'client "spa" authenticated with client_id alone',
    });
  });
});

describe('client_credentials token as actor', () => {
  /** Exchanges the README user token with `actorToken` for a JWT and returns its claims. */
  async function exchangeWithActor(tokenUrl: string, actorToken: string) {
    const response = await postToken(
      tokenUrl,
      form({
        grant_type: TOKEN_EXCHANGE,
        subject_token: UNSIGNED_USER_JWT,
        subject_token_type: ACCESS_TOKEN_TYPE,
        actor_token: actorToken,
        actor_token_type: ACCESS_TOKEN_TYPE,
        audience: 'api://downstream',
        client_id: 'gateway',
        client_secret: 'gateway-secret',
      }),
    );
    const json = await expectTokenResponse(response);
    return decodeJwt(json.access_token as string);
  }

  it('opaque token names service in act', async () => {
    const { url, tokenUrl } = await startServer({
      audiences: { 'api://downstream': { tokenFormat: 'jwt' } },
    });
    const serviceToken = await expectTokenResponse(await postToken(tokenUrl, grantBody()));

    const claims = await exchangeWithActor(tokenUrl, serviceToken.access_token as string);

    expect(claims.sub).toBe('user-123');
    expect(claims.act).toEqual({
      sub: 'reporting-service',
      iss: url,
      client_id: 'reporting-service',
    });
  });

  it('JWT names service in act', async () => {
    const { url, tokenUrl } = await startServer({ tokenFormat: 'jwt' });
    const serviceToken = await expectTokenResponse(await postToken(tokenUrl, grantBody()));

    const claims = await exchangeWithActor(tokenUrl, serviceToken.access_token as string);

    expect(claims.sub).toBe('user-123');
    expect(claims.act).toEqual({
      sub: 'reporting-service',
      iss: url,
      client_id: 'reporting-service',
    });
  });
});
