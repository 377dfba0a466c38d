import { createSign, generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/errors.js';
import { createServer } from '../src/server.js';
import {
  ACCESS_TOKEN_TYPE,
  exchangeBody,
  form,
  postToken,
  startServer,
  TOKEN_EXCHANGE,
  unsignedJwt,
} from './helpers.js';
import {
  NOW,
  OTHER_ISSUER_KEYS_FILE,
  SIGNING_KEYS_FILE,
  signToken,
  startVerifyServer,
} from './subject-tokens.js';
import { expectOAuthError, expectTokenResponse, lastLogEntry } from './token-assertions.js';

const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Generates a 1024-bit RSA key pair as JWKs, which jose rejects for RS256 signing and verifying. */
function smallRsaKey() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const privateJwk = privateKey.export({ format: 'jwk' });
  const publicJwk = publicKey.export({ format: 'jwk' });
  return { privateKey, privateJwk, publicJwk };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe('claims used in none mode', () => {
  const deepClaim = JSON.parse(`${'['.repeat(40)}1${']'.repeat(40)}`);
  const subject = unsignedJwt({
    sub: 'user-42',
    scope: 'read',
    may_act: { sub: 'agent-a' },
    x: deepClaim,
  });

  it('deep claim keeps may_act enforced', async () => {
    const { tokenUrl } = await startServer();
    const body = exchangeBody({ subject_token: subject, scope: undefined, audience: undefined });
    const response = await postToken(tokenUrl, body.replace('litellm-client', 'evil-agent'));
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'the subject token does not allow this actor (may_act)',
    );
  });

  it('deep claim keeps scope limited', async () => {
    const { tokenUrl } = await startServer();
    const body = form({
      grant_type: TOKEN_EXCHANGE,
      subject_token: unsignedJwt({ sub: 'user-42', scope: 'read', x: deepClaim }),
      subject_token_type: ACCESS_TOKEN_TYPE,
      client_id: 'agent-a',
      scope: 'admin',
    });
    const response = await postToken(tokenUrl, body);
    await expectOAuthError(
      response,
      400,
      'invalid_scope',
      'requested scope exceeds the scope of the subject token',
    );
  });

  it('malformed scope tokens are never granted', async () => {
    const { tokenUrl } = await startServer();
    const body = form({
      grant_type: TOKEN_EXCHANGE,
      subject_token: unsignedJwt({ sub: 'user-42', scope: 'read a"b c\\d' }),
      subject_token_type: ACCESS_TOKEN_TYPE,
      client_id: 'agent-a',
    });
    const json = await expectTokenResponse(await postToken(tokenUrl, body));
    expect(json.scope).toBe('read');
  });

  it('scope claim as a list is honoured', async () => {
    const { tokenUrl } = await startServer();
    const body = form({
      grant_type: TOKEN_EXCHANGE,
      subject_token: unsignedJwt({ sub: 'user-42', scope: ['read', 'write'] }),
      subject_token_type: ACCESS_TOKEN_TYPE,
      client_id: 'agent-a',
      scope: 'admin',
    });
    const response = await postToken(tokenUrl, body);
    expect(response.status).toBe(400);
  });
});

describe('unusable keys', () => {
  it('small RSA signing key stops startup', async () => {
    const { privateJwk } = smallRsaKey();
    const path = join(tmpdir(), `mtes-small-rsa-${process.pid}.json`);
    await writeFile(
      path,
      JSON.stringify({ keys: [{ ...privateJwk, kid: 'small', alg: 'RS256' }] }),
    );
    const server = createServer({ keys: { file: path }, logLevel: 'silent' });
    closers.push(() => server.close());

    const error = await server.ready().then(
      () => undefined,
      (reason: unknown) => reason,
    );

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/keys\[0\]: the key cannot sign and verify: /);
  });

  it('malformed inline trusted key stops startup', async () => {
    const server = createServer({
      logLevel: 'silent',
      subjectTokens: {
        validation: 'verify',
        trustedIssuers: [
          {
            issuer: 'https://agents.test',
            keys: [{ kty: 'EC', crv: 'P-256', kid: 'agent-key', alg: 'ES256', x: '...', y: '...' }],
          },
        ],
      },
    });
    closers.push(() => server.close());

    const error = await server.ready().then(
      () => undefined,
      (reason: unknown) => reason,
    );

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(
      /^subjectTokens\.trustedIssuers\[0\]\.keys: keys\[0\] cannot be used: /,
    );
  });

  it('unusable fetched key rejects the token', async () => {
    const { privateKey, publicJwk } = smallRsaKey();
    const jwks = createHttpServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: [{ ...publicJwk, kid: 'small', alg: 'RS256' }] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => jwks.close(() => resolve())));
    const jwksUri = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
    const server = await startVerifyServer({
      subjectTokens: { trustedIssuers: [{ issuer: 'https://small.test', jwksUri }] },
    });
    const input = `${encode({ alg: 'RS256', kid: 'small', typ: 'at+jwt' })}.${encode({
      iss: 'https://small.test',
      sub: 'user-1',
      exp: NOW + 600,
    })}`;
    const signature = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');

    const response = await postToken(
      server.tokenUrl,
      exchangeBody({
        subject_token: `${input}.${signature}`,
        audience: undefined,
        scope: undefined,
      }),
    );

    await expectOAuthError(response, 400, 'invalid_request', 'subject_token is invalid');
  });
});

describe('trusted issuer and Host header', () => {
  const idp = 'http://idp.test:8080';

  async function startIdpServer() {
    return startVerifyServer({
      subjectTokens: { trustedIssuers: [{ issuer: idp, jwksFile: OTHER_ISSUER_KEYS_FILE }] },
    });
  }

  function postWithHost(tokenUrl: string, subjectToken: string) {
    const body = exchangeBody({
      subject_token: subjectToken,
      audience: undefined,
      scope: undefined,
    });
    return postToken(tokenUrl, body, { host: 'idp.test:8080' });
  }

  it('genuine IdP token accepted', async () => {
    const server = await startIdpServer();
    const token = await signToken(
      { iss: idp, sub: 'alice', exp: NOW + 600 },
      { key: 'other-issuer-es256' },
    );
    const response = await postWithHost(server.tokenUrl, token);
    expect(response.status).toBe(200);
  });

  it('own key cannot claim IdP name', async () => {
    const server = await startIdpServer();
    const forged = await signToken(
      { iss: idp, sub: 'mallory', exp: NOW + 600 },
      { key: 'test-rs256' },
    );
    const response = await postWithHost(server.tokenUrl, forged);
    await expectOAuthError(response, 400, 'invalid_request', 'subject_token is invalid');
    const entry = await lastLogEntry(server.url);
    expect(entry.outcome.detail).toBe(`kid test-rs256 not found in the keys of issuer ${idp}`);
  });
});

describe('revocation of minted tokens', () => {
  it('minted token without jti is revocable', async () => {
    const { url, tokenUrl } = await startServer({ keys: { file: SIGNING_KEYS_FILE } });
    const minted = await fetch(`${url}/admin/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'user-9' }),
    });
    const { token } = (await minted.json()) as { token: string };

    const revoked = await fetch(`${url}/oauth2/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ token, client_id: 'any-client' }),
    });
    const response = await postToken(
      tokenUrl,
      exchangeBody({ subject_token: token, audience: undefined, scope: undefined }),
    );

    expect(revoked.status).toBe(200);
    await expectOAuthError(response, 400, 'invalid_request', 'subject_token is invalid');
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe('subject token was revoked');
  });

  it('foreign token is not revocable', async () => {
    const { url, tokenUrl } = await startServer({ keys: { file: SIGNING_KEYS_FILE } });
    const token = await signToken({ sub: 'user-9', exp: NOW + 600 }, { key: 'other-issuer-es256' });

    await fetch(`${url}/oauth2/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ token, client_id: 'any-client' }),
    });
    const response = await postToken(
      tokenUrl,
      exchangeBody({ subject_token: token, audience: undefined, scope: undefined }),
    );

    expect(response.status).toBe(200);
  });
});
