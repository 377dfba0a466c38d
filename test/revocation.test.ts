import { describe, expect, it } from 'vitest';
import { fingerprint } from '../src/tokens/fingerprint.js';
import { ACCESS_TOKEN_TYPE, exchangeBody, FROZEN_TIME, startServer } from './helpers.js';
import {
  expectRevoked,
  FROZEN_SECONDS,
  introspectBody,
  postForm,
  revoke,
  SIGNING_KEYS_FILE,
  steppingClock,
  TOKEN_CLIENT,
  unsignedJwt,
} from './introspection-helpers.js';
import {
  BASIC_CHALLENGE,
  expectOAuthError,
  expectTokenResponse,
  issueToken,
  logEntries,
} from './token-assertions.js';

const REVOCATION_PATH = '/oauth2/revoke';
const INACTIVE = { active: false };
const JWT_SETTINGS = {
  tokenFormat: 'jwt' as const,
  keys: { file: SIGNING_KEYS_FILE, activeKeyId: 'test-es256' },
};
const REGISTERED_CLIENTS = {
  clients: [
    { clientId: 'litellm-client', clientSecret: 'litellm-secret' },
    { clientId: 'other-client', clientSecret: 'other-secret' },
    { clientId: 'resource-server', clientSecret: 'rs-secret' },
  ],
};

async function isActive(url: string, token: string): Promise<unknown> {
  return ((await introspectBody(url, token)) as Record<string, unknown>).active;
}

describe('revocation', () => {
  it('revokes an opaque token', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());

    await expectRevoked(await revoke(url, token));

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('revokes a JWT', async () => {
    const { url, tokenUrl } = await startServer(JWT_SETTINGS);
    const token = await issueToken(tokenUrl, exchangeBody());

    await expectRevoked(await revoke(url, token));

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('leaves other tokens active', async () => {
    const { url, tokenUrl } = await startServer();
    const revoked = await issueToken(tokenUrl, exchangeBody());
    const unrevoked = await issueToken(tokenUrl, exchangeBody({ subject_token: 'user-2' }));

    await expectRevoked(await revoke(url, revoked));

    expect(await isActive(url, unrevoked)).toBe(true);
  });

  it('accepts Basic client authentication', async () => {
    const { url, tokenUrl } = await startServer(REGISTERED_CLIENTS);
    const token = await issueToken(tokenUrl, exchangeBody());
    const basic = Buffer.from('litellm-client:litellm-secret').toString('base64');

    const response = await postForm(
      url,
      REVOCATION_PATH,
      { token },
      {
        authorization: `Basic ${basic}`,
      },
    );

    await expectRevoked(response);
    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it('ignores a wrong token_type_hint', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());

    await expectRevoked(await revoke(url, token, { token_type_hint: 'refresh_token' }));

    expect(await introspectBody(url, token)).toStrictEqual(INACTIVE);
  });

  it.each([
    ['an unknown token', 'exchanged-0123456789abcdef-for-api://my-mcp-server'],
    ['a malformed JWT', 'a.b.c'],
    ['an unsigned JWT', unsignedJwt({ sub: 'user-123', client_id: 'litellm-client' })],
  ])('accepts %s', async (_case, token) => {
    const { url } = await startServer(JWT_SETTINGS);

    await expectRevoked(await revoke(url, token));
  });

  it('accepts an already revoked token', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());
    await expectRevoked(await revoke(url, token));

    await expectRevoked(await revoke(url, token));
  });

  it('accepts an expired JWT', async () => {
    const issuing = await startServer(JWT_SETTINGS);
    const token = await issueToken(issuing.tokenUrl, exchangeBody());
    const later = await startServer({
      ...JWT_SETTINGS,
      clock: { now: () => FROZEN_TIME + 3600 * 1000 },
    });

    await expectRevoked(await revoke(later.url, token));

    expect(later.server.context.tokenIndex.revokedCount).toBe(0);
  });

  it('stays out of the request log', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());

    await expectRevoked(await revoke(url, token));

    expect((await logEntries(url)).length).toBe(1);
  });

  it('logs neither token nor secret', async () => {
    const { url, tokenUrl, logText } = await startServer({ logLevel: 'trace' });
    const token = await issueToken(tokenUrl, exchangeBody());

    await expectRevoked(await revoke(url, token));
    await expectRevoked(await revoke(url, 'unknown-secret-token-value'));

    expect(logText()).not.toContain(token);
    expect(logText()).not.toContain('unknown-secret-token-value');
    expect(logText()).not.toContain(TOKEN_CLIENT.client_secret);
  });
});

describe('revocation by another client', () => {
  it('rejects revoking an opaque token', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());

    const response = await revoke(url, token, { client_id: 'other-client' });

    await expectOAuthError(
      response,
      400,
      'unauthorized_client',
      'the token was not issued to this client',
    );
  });

  it('leaves the opaque token active', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());

    await revoke(url, token, { client_id: 'other-client' });

    expect(await isActive(url, token)).toBe(true);
  });

  it('rejects revoking a JWT', async () => {
    const { url, tokenUrl } = await startServer(JWT_SETTINGS);
    const token = await issueToken(tokenUrl, exchangeBody());

    const response = await revoke(url, token, { client_id: 'other-client' });

    await expectOAuthError(
      response,
      400,
      'unauthorized_client',
      'the token was not issued to this client',
    );
    expect(await isActive(url, token)).toBe(true);
  });

  it('rejects a registered other client', async () => {
    const { url, tokenUrl } = await startServer(REGISTERED_CLIENTS);
    const token = await issueToken(tokenUrl, exchangeBody());

    const response = await revoke(url, token, {
      client_id: 'other-client',
      client_secret: 'other-secret',
    });

    await expectOAuthError(
      response,
      400,
      'unauthorized_client',
      'the token was not issued to this client',
    );
  });
});

describe('revoked input tokens', () => {
  it('rejects a revoked opaque subject_token', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());
    await expectRevoked(await revoke(url, token));

    const response = await postForm(url, '/oauth2/token', {
      ...Object.fromEntries(new URLSearchParams(exchangeBody())),
      subject_token: token,
      audience: 'api://downstream',
    });

    await expectOAuthError(response, 400, 'invalid_request', 'subject_token is invalid');
  });

  it('rejects a revoked JWT subject_token', async () => {
    const { url, tokenUrl } = await startServer(JWT_SETTINGS);
    const token = await issueToken(tokenUrl, exchangeBody());
    await expectRevoked(await revoke(url, token));

    const response = await postForm(url, '/oauth2/token', {
      ...Object.fromEntries(new URLSearchParams(exchangeBody())),
      subject_token: token,
      audience: 'api://downstream',
    });

    await expectOAuthError(response, 400, 'invalid_request', 'subject_token is invalid');
  });

  it('rejects a revoked actor_token', async () => {
    const { url, tokenUrl } = await startServer();
    const agentToken = await issueToken(tokenUrl, exchangeBody({ subject_token: 'agent-1' }));
    await expectRevoked(await revoke(url, agentToken));

    const response = await postForm(url, '/oauth2/token', {
      ...Object.fromEntries(new URLSearchParams(exchangeBody())),
      actor_token: agentToken,
      actor_token_type: ACCESS_TOKEN_TYPE,
    });

    await expectOAuthError(response, 400, 'invalid_request', 'actor_token is invalid');
  });

  it('accepts an unrevoked subject_token', async () => {
    // Control for the cases above: the same exchange without the revocation succeeds.
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());

    const response = await postForm(url, '/oauth2/token', {
      ...Object.fromEntries(new URLSearchParams(exchangeBody())),
      subject_token: token,
      audience: 'api://downstream',
    });

    await expectTokenResponse(response);
  });
});

describe('reissue after revocation', () => {
  it('issues the same opaque token', async () => {
    const { url, tokenUrl } = await startServer();
    const first = await issueToken(tokenUrl, exchangeBody());
    await expectRevoked(await revoke(url, first));

    const second = await issueToken(tokenUrl, exchangeBody());

    expect(second).toBe(first);
  });

  it('makes the reissued token active', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());
    await expectRevoked(await revoke(url, token));

    await issueToken(tokenUrl, exchangeBody());

    expect(await isActive(url, token)).toBe(true);
  });

  it('accepts the reissued subject_token', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());
    await expectRevoked(await revoke(url, token));
    await issueToken(tokenUrl, exchangeBody());

    const response = await postForm(url, '/oauth2/token', {
      ...Object.fromEntries(new URLSearchParams(exchangeBody())),
      subject_token: token,
      audience: 'api://downstream',
    });

    await expectTokenResponse(response);
  });
});

describe('revocation request errors', () => {
  it('requires the token parameter', async () => {
    const { url } = await startServer();

    const response = await postForm(url, REVOCATION_PATH, { ...TOKEN_CLIENT });

    await expectOAuthError(response, 400, 'invalid_request', 'missing required parameter token');
  });

  it('requires client authentication', async () => {
    const { url, tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody());

    const response = await postForm(url, REVOCATION_PATH, { token });

    expect(response.headers.get('www-authenticate')).toBe(BASIC_CHALLENGE);
    await expectOAuthError(response, 401, 'invalid_client', 'client authentication is required');
    expect(await isActive(url, token)).toBe(true);
  });

  it('rejects a wrong client secret', async () => {
    const { url, tokenUrl } = await startServer(REGISTERED_CLIENTS);
    const token = await issueToken(tokenUrl, exchangeBody());

    const response = await revoke(url, token, { client_secret: 'wrong' });

    expect(response.headers.get('www-authenticate')).toBe(BASIC_CHALLENGE);
    await expectOAuthError(response, 401, 'invalid_client', 'client authentication failed');
    expect(await isActive(url, token)).toBe(true);
  });

  it('answers GET with 405', async () => {
    const { url } = await startServer();

    const response = await fetch(`${url}${REVOCATION_PATH}`);

    expect(response.headers.get('allow')).toBe('POST');
    await expectOAuthError(response, 405, 'invalid_request', 'method not allowed, use POST');
  });
});

describe('token index bounds', () => {
  it('bounds the revocation list', async () => {
    const { url, tokenUrl, server } = await startServer({ ...JWT_SETTINGS, tokenIndexSize: 2 });
    const tokens: string[] = [];
    for (const subject of ['user-1', 'user-2', 'user-3']) {
      tokens.push(await issueToken(tokenUrl, exchangeBody({ subject_token: subject })));
    }
    for (const token of tokens) await expectRevoked(await revoke(url, token));
    const [first, second, third] = tokens as [string, string, string];

    expect(server.context.tokenIndex.revokedCount).toBe(2);
    // The oldest revocation was dropped, so the first JWT, not yet expired, is active again.
    expect(await isActive(url, first)).toBe(true);
    expect(await introspectBody(url, second)).toStrictEqual(INACTIVE);
    expect(await introspectBody(url, third)).toStrictEqual(INACTIVE);
  });

  it('keeps evicted revoked opaque tokens inactive', async () => {
    // Only the opaque token enters the issued map, so JWT revocations alone evict its revocation.
    const { url, tokenUrl, server } = await startServer({
      keys: JWT_SETTINGS.keys,
      audiences: { 'api://jwt-api': { tokenFormat: 'jwt' } },
      tokenIndexSize: 2,
    });
    const opaque = await issueToken(tokenUrl, exchangeBody({ subject_token: 'user-1' }));
    await expectRevoked(await revoke(url, opaque));
    for (const subject of ['user-2', 'user-3']) {
      const body = exchangeBody({ subject_token: subject, audience: 'api://jwt-api' });
      await expectRevoked(await revoke(url, await issueToken(tokenUrl, body)));
    }

    expect(server.context.tokenIndex.revokedCount).toBe(2);
    expect(server.context.tokenIndex.isRevoked(`fingerprint:${fingerprint(opaque)}`)).toBe(false);
    expect(await introspectBody(url, opaque)).toStrictEqual(INACTIVE);
  });

  it('drops expired revocations first', async () => {
    const clock = steppingClock();
    const { url, tokenUrl, server } = await startServer({
      ...JWT_SETTINGS,
      tokenIndexSize: 2,
      clock,
    });
    const subjectExpiringSoon = unsignedJwt({ sub: 'user-1', exp: FROZEN_SECONDS + 10 });
    const shortLived = await issueToken(
      tokenUrl,
      exchangeBody({ subject_token: subjectExpiringSoon }),
    );
    const oldest = await issueToken(tokenUrl, exchangeBody({ subject_token: 'user-2' }));
    const newest = await issueToken(tokenUrl, exchangeBody({ subject_token: 'user-3' }));
    await expectRevoked(await revoke(url, oldest));
    await expectRevoked(await revoke(url, shortLived));

    clock.advanceSeconds(20);
    await expectRevoked(await revoke(url, newest));

    expect(server.context.tokenIndex.revokedCount).toBe(2);
    // The expired token's revocation made room, so the oldest revocation is kept.
    expect(await introspectBody(url, oldest)).toStrictEqual(INACTIVE);
    expect(await introspectBody(url, newest)).toStrictEqual(INACTIVE);
  });
});
