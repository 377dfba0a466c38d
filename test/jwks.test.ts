import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWK,
  jwtVerify,
} from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { exchangeBody, FROZEN_TIME, startServer } from './helpers.js';
import { expectOAuthError, issueToken, readJson } from './token-assertions.js';

const KEYS_FILE = fileURLToPath(new URL('./fixtures/signing-keys.json', import.meta.url));
const FIXTURE_KEYS = (JSON.parse(readFileSync(KEYS_FILE, 'utf8')) as { keys: JWK[] }).keys;
const FIXTURE_KIDS = ['test-rs256', 'test-ps256', 'test-es256', 'test-eddsa', 'test-rs256-next'];
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** Public members of each key type (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2). */
const PUBLIC_MEMBERS: Record<string, string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

/** Builds the JWKS entry expected for a fixture key: its public members with kid, alg and use. */
function publicEntry(jwk: JWK): Record<string, unknown> {
  const members = PUBLIC_MEMBERS[jwk.kty ?? ''] ?? [];
  const source = jwk as Record<string, unknown>;
  const entry: Record<string, unknown> = {};
  for (const member of [...members, 'kid', 'alg', 'use']) entry[member] = source[member];
  return entry;
}

async function fetchJwks(url: string): Promise<{ keys: Record<string, unknown>[] }> {
  const response = await fetch(`${url}/.well-known/jwks.json`);
  expect(response.status).toBe(200);
  return (await readJson(response)) as { keys: Record<string, unknown>[] };
}

let tempDirectory: string | undefined;

afterEach(async () => {
  if (tempDirectory !== undefined) await rm(tempDirectory, { recursive: true, force: true });
  tempDirectory = undefined;
});

async function writeKeysFile(keys: JWK[]): Promise<string> {
  tempDirectory ??= await mkdtemp(join(tmpdir(), 'mtes-jwks-'));
  const path = join(tempDirectory, 'keys.json');
  await writeFile(path, JSON.stringify({ keys }), 'utf8');
  return path;
}

describe('JWKS endpoint', () => {
  it('publishes fixture keys exactly', async () => {
    const { url } = await startServer({ keys: { file: KEYS_FILE } });

    const jwks = await fetchJwks(url);

    expect(jwks).toEqual({ keys: FIXTURE_KEYS.map(publicEntry) });
  });

  it('lists every fixture kid', async () => {
    const { url } = await startServer({ keys: { file: KEYS_FILE } });

    const jwks = await fetchJwks(url);

    expect(jwks.keys.map((key) => key.kid)).toEqual(FIXTURE_KIDS);
  });

  it('omits private key members', async () => {
    const { url } = await startServer({ keys: { file: KEYS_FILE } });

    const jwks = await fetchJwks(url);

    for (const key of jwks.keys) {
      for (const member of PRIVATE_MEMBERS) {
        expect(key, `${String(key.kid)} has ${member}`).not.toHaveProperty(member);
      }
    }
  });

  it('marks every key for signatures', async () => {
    const { url } = await startServer({ keys: { file: KEYS_FILE } });

    const jwks = await fetchJwks(url);

    expect(jwks.keys.map((key) => key.use)).toEqual(['sig', 'sig', 'sig', 'sig', 'sig']);
    expect(jwks.keys.map((key) => key.alg)).toEqual(['RS256', 'PS256', 'ES256', 'EdDSA', 'RS256']);
  });

  it('publishes generated key with thumbprint', async () => {
    const { url } = await startServer();

    const jwks = await fetchJwks(url);

    expect(jwks.keys).toHaveLength(1);
    const key = jwks.keys[0] as JWK;
    expect(key.kty).toBe('RSA');
    expect(key.alg).toBe('RS256');
    expect(key.use).toBe('sig');
    expect(key.kid).toBe((await calculateJwkThumbprint(key, 'sha256')).slice(0, 16));
    expect(key).not.toHaveProperty('d');
  });

  it.each([
    ['ES256', 'EC'],
    ['EdDSA', 'OKP'],
    ['PS256', 'RSA'],
  ] as const)('generates %s key from keys.algorithm', async (algorithm, kty) => {
    const { url } = await startServer({ keys: { algorithm } });

    const jwks = await fetchJwks(url);

    expect(jwks.keys.map((key) => [key.kty, key.alg])).toEqual([[kty, algorithm]]);
  });

  it('answers HEAD without a body', async () => {
    const { url } = await startServer({ keys: { file: KEYS_FILE } });

    const response = await fetch(`${url}/.well-known/jwks.json`, { method: 'HEAD' });

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.text()).toBe('');
  });

  it('rejects POST with 405', async () => {
    const { url } = await startServer();

    const response = await fetch(`${url}/.well-known/jwks.json`, { method: 'POST' });

    expect(response.headers.get('allow')).toBe('GET, HEAD');
    await expectOAuthError(response, 405, 'invalid_request', 'method not allowed, use GET or HEAD');
  });

  it('never redirects', async () => {
    const { url } = await startServer();

    const response = await fetch(`${url}/.well-known/jwks.json`, { redirect: 'manual' });

    expect(response.status).toBe(200);
    expect(response.headers.get('location')).toBeNull();
  });
});

describe('active signing key', () => {
  it.each([
    ['test-rs256', 'RS256'],
    ['test-ps256', 'PS256'],
    ['test-es256', 'ES256'],
    ['test-eddsa', 'EdDSA'],
    ['test-rs256-next', 'RS256'],
  ])('activeKeyId %s signs tokens', async (kid, alg) => {
    const { tokenUrl } = await startServer({
      tokenFormat: 'jwt',
      keys: { file: KEYS_FILE, activeKeyId: kid },
    });

    const token = await issueToken(tokenUrl, exchangeBody());

    expect(decodeProtectedHeader(token)).toEqual({ alg, kid, typ: 'at+jwt' });
  });

  it('first key signs by default', async () => {
    const { tokenUrl } = await startServer({ tokenFormat: 'jwt', keys: { file: KEYS_FILE } });

    const token = await issueToken(tokenUrl, exchangeBody());

    expect(decodeProtectedHeader(token).kid).toBe('test-rs256');
  });

  it('rotation keeps old tokens verifiable', async () => {
    const [current, next] = ['test-rs256', 'test-rs256-next'].map((kid) =>
      FIXTURE_KEYS.find((key) => key.kid === kid),
    ) as [JWK, JWK];
    const file = await writeKeysFile([current, next]);
    const issuer = 'http://issuer.test';
    const before = await startServer({
      issuer,
      tokenFormat: 'jwt',
      keys: { file, activeKeyId: 'test-rs256' },
    });
    const after = await startServer({
      issuer,
      tokenFormat: 'jwt',
      keys: { file, activeKeyId: 'test-rs256-next' },
    });
    const oldToken = await issueToken(before.tokenUrl, exchangeBody());
    const newToken = await issueToken(after.tokenUrl, exchangeBody());

    const jwks = createRemoteJWKSet(new URL(`${after.url}/.well-known/jwks.json`));
    const options = { issuer, currentDate: new Date(FROZEN_TIME) };
    const verifiedOld = await jwtVerify(oldToken, jwks, options);
    const verifiedNew = await jwtVerify(newToken, jwks, options);

    expect(verifiedOld.protectedHeader.kid).toBe('test-rs256');
    expect(verifiedNew.protectedHeader.kid).toBe('test-rs256-next');
  });

  it('removed key no longer verifies', async () => {
    const next = FIXTURE_KEYS.find((key) => key.kid === 'test-rs256-next') as JWK;
    const issuer = 'http://issuer.test';
    const before = await startServer({
      issuer,
      tokenFormat: 'jwt',
      keys: { file: KEYS_FILE, activeKeyId: 'test-rs256' },
    });
    const after = await startServer({ issuer, keys: { file: await writeKeysFile([next]) } });
    const oldToken = await issueToken(before.tokenUrl, exchangeBody());

    const jwks = createRemoteJWKSet(new URL(`${after.url}/.well-known/jwks.json`));

    await expect(
      jwtVerify(oldToken, jwks, { issuer, currentDate: new Date(FROZEN_TIME) }),
    ).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });
});
