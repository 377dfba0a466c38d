import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { compactVerify, errors, importJWK, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/errors.js';
import { KeyStore, type SigningKey } from '../src/keys/keystore.js';
import { importNodeSigningKey, signCompactJws } from '../src/keys/sign.js';
import { OTHER_ISSUER_KEYS_FILE, SIGNING_KEYS_FILE } from './subject-tokens.js';

function readKeys(path: string): JWK[] {
  return (JSON.parse(readFileSync(path, 'utf8')) as { keys: JWK[] }).keys;
}

function fixtureKey(path: string, kid: string): JWK {
  const jwk = readKeys(path).find((key) => key.kid === kid);
  if (!jwk) throw new Error(`no fixture key ${kid}`);
  return jwk;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const keys = await KeyStore.fromFile(SIGNING_KEYS_FILE);
  const key = keys.find(kid);
  if (!key) throw new Error(`no signing key ${kid}`);
  return key;
}

/** Splits a compact JWS into its three segments. */
function splitCompact(token: string): [string, string, string] {
  const segments = token.split('.');
  expect(segments).toHaveLength(3);
  return segments as [string, string, string];
}

function decodeSegment(segment: string): string {
  return Buffer.from(segment, 'base64url').toString('utf8');
}

/** Replaces the character at `index` with another base64url character. */
function replaceCharacter(text: string, index: number): string {
  const replacement = text[index] === 'A' ? 'B' : 'A';
  return `${text.slice(0, index)}${replacement}${text.slice(index + 1)}`;
}

/** Loads a one-key JWKS and returns the error it raises, or undefined. */
async function loadError(jwk: JWK): Promise<unknown> {
  return KeyStore.fromJwks({ keys: [jwk] }, 'test JWKS').then(
    () => undefined,
    (reason: unknown) => reason,
  );
}

const CLAIMS = {
  iss: 'https://issuer.test',
  sub: 'user-ü-名前',
  aud: ['https://api.test', 'https://other.test'],
  client_id: 'agent-a',
  scope: 'read write',
  iat: 1767225600,
  exp: 1767229200,
  jti: '2f1b6a4e-0c5d-4b8e-9a47-3c1d2e5f6a7b',
  act: { sub: 'agent-a', act: { sub: 'gateway' } },
};

const ALGORITHMS = [
  { kid: 'test-rs256', alg: 'RS256', signatureBytes: 256 },
  { kid: 'test-ps256', alg: 'PS256', signatureBytes: 256 },
  { kid: 'test-es256', alg: 'ES256', signatureBytes: 64 },
  { kid: 'test-eddsa', alg: 'EdDSA', signatureBytes: 64 },
] as const;

describe.each(ALGORITHMS)('signCompactJws $alg', ({ kid, alg, signatureBytes }) => {
  it('signature verifies with the public key', async () => {
    const key = await signingKey(kid);
    const token = await signCompactJws(key, { alg, kid, typ: 'at+jwt' }, CLAIMS);

    const { protectedHeader, payload } = await compactVerify(
      token,
      await importJWK(key.publicJwk, alg),
    );

    expect(protectedHeader).toEqual({ alg, kid, typ: 'at+jwt' });
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual(CLAIMS);
  });

  it('segments are the JSON of the input', async () => {
    const key = await signingKey(kid);
    const header = { alg, kid, typ: 'at+jwt' };
    const token = await signCompactJws(key, header, CLAIMS);

    const segments = splitCompact(token);

    expect(segments.every((segment) => /^[A-Za-z0-9_-]+$/.test(segment))).toBe(true);
    expect(decodeSegment(segments[0])).toBe(JSON.stringify(header));
    expect(decodeSegment(segments[1])).toBe(JSON.stringify(CLAIMS));
    expect(Buffer.from(segments[2], 'base64url')).toHaveLength(signatureBytes);
  });

  it('altered payload does not verify', async () => {
    const key = await signingKey(kid);
    const token = await signCompactJws(key, { alg, kid, typ: 'at+jwt' }, CLAIMS);
    const [header, payload, signature] = splitCompact(token);
    const altered = `${header}.${replaceCharacter(payload, 10)}.${signature}`;

    await expect(compactVerify(altered, await importJWK(key.publicJwk, alg))).rejects.toThrow(
      errors.JWSSignatureVerificationFailed,
    );
  });

  it('header alg of another algorithm is rejected', async () => {
    const key = await signingKey(kid);
    const otherAlg = alg === 'ES256' ? 'EdDSA' : 'ES256';

    await expect(signCompactJws(key, { alg: otherAlg, kid }, CLAIMS)).rejects.toThrow(
      `header alg ${otherAlg} does not match the ${alg} signing key`,
    );
  });
});

describe('importNodeSigningKey', () => {
  it('P-384 key for ES256 is rejected', () => {
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({
      format: 'jwk',
    });

    expect(() => importNodeSigningKey(jwk, 'ES256')).toThrow(
      'key type ec secp384r1 cannot sign ES256',
    );
  });

  it('Ed448 key for EdDSA is rejected', () => {
    const jwk = generateKeyPairSync('ed448').privateKey.export({ format: 'jwk' });

    expect(() => importNodeSigningKey(jwk, 'EdDSA')).toThrow('key type ed448 cannot sign EdDSA');
  });

  it('RSA key for ES256 is rejected', () => {
    const jwk = fixtureKey(SIGNING_KEYS_FILE, 'test-rs256');

    expect(() => importNodeSigningKey(jwk as JsonWebKey, 'ES256')).toThrow(
      'key type rsa cannot sign ES256',
    );
  });
});

describe('signing key whose public part does not match', () => {
  // Both jose and node:crypto import this key, so the startup probe is what rejects it.
  it('RSA key is rejected at load', async () => {
    const own = fixtureKey(SIGNING_KEYS_FILE, 'test-rs256');
    const other = fixtureKey(SIGNING_KEYS_FILE, 'test-rs256-next');

    const error = await loadError({ ...own, n: other.n });

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(
      /^test JWKS keys\[0\]: the key cannot sign and verify: /,
    );
  });

  // For EC and OKP keys, Web Crypto on Node.js 20 rejects a public part that does not belong to
  // `d` when jose imports the key, before the probe runs.
  it('ES256 key is rejected at load', async () => {
    const own = fixtureKey(SIGNING_KEYS_FILE, 'test-es256');
    const other = fixtureKey(OTHER_ISSUER_KEYS_FILE, 'other-issuer-es256');

    const error = await loadError({ ...own, x: other.x, y: other.y });

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'test JWKS keys[0]: cannot import the key: Invalid keyData',
    );
  });

  it('EdDSA key is rejected at load', async () => {
    const own = fixtureKey(SIGNING_KEYS_FILE, 'test-eddsa');
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });

    const error = await loadError({ ...own, x: other.x });

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'test JWKS keys[0]: cannot import the key: Invalid keyData',
    );
  });
});
