import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { KeyStore } from '../src/keys/keystore.js';
import {
  ACCESS_TOKEN_TYPE,
  exchangeBody,
  FROZEN_TIME,
  JWT_TOKEN_TYPE,
  postToken,
  startServer,
} from './helpers.js';
import { SIGNING_KEYS_FILE } from './subject-tokens.js';
import { expectTokenResponse } from './token-assertions.js';

const NOW = FROZEN_TIME / 1000;

async function fixtureJwks() {
  const keys = await KeyStore.fromFile(SIGNING_KEYS_FILE);
  return createLocalJWKSet(keys.publicJwks());
}

describe('requested token type jwt', () => {
  it('issues a signed JWT', async () => {
    const { tokenUrl } = await startServer({ keys: { file: SIGNING_KEYS_FILE } });
    const response = await postToken(
      tokenUrl,
      exchangeBody({ requested_token_type: JWT_TOKEN_TYPE }),
    );
    const body = await expectTokenResponse(response);

    expect(Object.keys(body).sort()).toEqual([
      'access_token',
      'expires_in',
      'issued_token_type',
      'scope',
      'token_type',
    ]);
    expect(body.issued_token_type).toBe(JWT_TOKEN_TYPE);
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(3600);
    const token = body.access_token as string;
    expect(decodeProtectedHeader(token)).toEqual({
      alg: 'RS256',
      kid: 'test-rs256',
      typ: 'at+jwt',
    });
  });

  it('JWT claims follow RFC 9068', async () => {
    const { url, tokenUrl } = await startServer({ keys: { file: SIGNING_KEYS_FILE } });
    const response = await postToken(
      tokenUrl,
      exchangeBody({ requested_token_type: JWT_TOKEN_TYPE }),
    );
    const token = (await expectTokenResponse(response)).access_token as string;

    const { payload } = await jwtVerify(token, await fixtureJwks(), {
      issuer: url,
      audience: 'api://my-mcp-server',
      typ: 'at+jwt',
      currentDate: new Date(FROZEN_TIME),
    });
    const { jti, ...rest } = payload;
    expect(typeof jti).toBe('string');
    expect(rest).toEqual({
      iss: url,
      sub: 'user-123',
      aud: 'api://my-mcp-server',
      client_id: 'litellm-client',
      scope: 'mcp.tools.read mcp.tools.execute',
      iat: NOW,
      exp: NOW + 3600,
    });
  });

  it('two targets give an aud array', async () => {
    const { tokenUrl } = await startServer({ tokenFormat: 'jwt' });
    const body = `${exchangeBody({ audience: 'aud-a' })}&resource=https://r.example/mcp`;
    const token = (await expectTokenResponse(await postToken(tokenUrl, body)))
      .access_token as string;
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
    expect(claims.aud).toEqual(['aud-a', 'https://r.example/mcp']);
  });

  it('no target gives the issuer as aud', async () => {
    const { url, tokenUrl } = await startServer({ tokenFormat: 'jwt' });
    const token = (
      await expectTokenResponse(await postToken(tokenUrl, exchangeBody({ audience: undefined })))
    ).access_token as string;
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
    expect(claims.aud).toBe(url);
  });

  it('access token type follows tokenFormat', async () => {
    const { tokenUrl } = await startServer({ tokenFormat: 'jwt' });
    const body = await expectTokenResponse(
      await postToken(tokenUrl, exchangeBody({ requested_token_type: ACCESS_TOKEN_TYPE })),
    );
    expect(body.issued_token_type).toBe(ACCESS_TOKEN_TYPE);
    expect((body.access_token as string).split('.')).toHaveLength(3);
  });

  it('per-audience format overrides global', async () => {
    const { tokenUrl } = await startServer({
      audiences: { 'api://my-mcp-server': { tokenFormat: 'jwt', claims: { tenant: 't1' } } },
    });
    const token = (await expectTokenResponse(await postToken(tokenUrl, exchangeBody())))
      .access_token as string;
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
    expect(claims.tenant).toBe('t1');
  });

  it('per-client format overrides global', async () => {
    const { tokenUrl } = await startServer({
      tokenFormat: 'jwt',
      clients: [
        { clientId: 'litellm-client', clientSecret: 'litellm-secret', tokenFormat: 'opaque' },
      ],
    });
    const token = (await expectTokenResponse(await postToken(tokenUrl, exchangeBody())))
      .access_token as string;
    expect(token).toBe('exchanged-53a23a852c28f3be-for-api://my-mcp-server');
  });

  it('extra claims never replace registered ones', async () => {
    const { url, tokenUrl } = await startServer({
      tokenFormat: 'jwt',
      claims: { iss: 'https://forged.example', sub: 'forged', team: 'blue' },
    });
    const token = (await expectTokenResponse(await postToken(tokenUrl, exchangeBody())))
      .access_token as string;
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
    expect(claims.iss).toBe(url);
    expect(claims.sub).toBe('user-123');
    expect(claims.team).toBe('blue');
  });

  it('lifetime never outlives the subject token', async () => {
    const { tokenUrl } = await startServer({ tokenFormat: 'jwt' });
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const subject = `${encode({ alg: 'none' })}.${encode({ sub: 'u', exp: NOW + 120 })}.`;
    const body = await expectTokenResponse(
      await postToken(tokenUrl, exchangeBody({ subject_token: subject })),
    );
    expect(body.expires_in).toBe(120);
    const claims = JSON.parse(
      Buffer.from((body.access_token as string).split('.')[1] ?? '', 'base64url').toString(),
    );
    expect(claims.exp - claims.iat).toBe(120);
  });
});
