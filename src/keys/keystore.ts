import type { JsonWebKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  compactVerify,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type KeyObject,
} from 'jose';
import { ConfigError } from '../config/errors.js';
import { importNodeSigningKey, type NodeSigningKey, signCompactJws } from './sign.js';

export type SigningAlgorithm = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';

/**
 * A signing key with its public JWK. Tokens are signed with `nodeKey` through
 * {@link signCompactJws}. `privateKey` is the same key imported by jose.
 */
export interface SigningKey extends NodeSigningKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: CryptoKey | KeyObject;
  /** Public JWK with `kid`, `alg` and `use: sig`, as published at the JWKS URL. */
  publicJwk: JWK;
}

const ALGORITHMS: readonly SigningAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

/** Members of a JWK that hold private key material; never published. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** The server's signing keys: one active key signs, all of them verify. */
export class KeyStore {
  readonly #keys: readonly SigningKey[];
  readonly active: SigningKey;

  private constructor(keys: readonly SigningKey[], active: SigningKey) {
    this.#keys = keys;
    this.active = active;
  }

  /** Generates one key pair of the given algorithm; its `kid` is its RFC 7638 thumbprint prefix. */
  static async generate(alg: SigningAlgorithm): Promise<KeyStore> {
    const key = await generateSigningKey(alg);
    return new KeyStore([key], key);
  }

  /**
   * Loads a private JWKS. Every key needs `kid` and `alg`; the active key is `activeKeyId`,
   * or the first key.
   * @throws ConfigError when the file cannot be read or a key is unusable.
   */
  static async fromJwks(jwks: unknown, source: string, activeKeyId?: string): Promise<KeyStore> {
    const entries = (jwks as { keys?: unknown })?.keys;
    if (!Array.isArray(entries) || entries.length === 0) {
      throw new ConfigError(`${source} must be a JWKS: an object with a non-empty "keys" array`);
    }
    const keys: SigningKey[] = [];
    for (const [index, entry] of entries.entries()) {
      keys.push(await importSigningKey(entry as JWK, `${source} keys[${index}]`));
    }
    const kids = new Set<string>();
    for (const key of keys) {
      if (kids.has(key.kid)) throw new ConfigError(`${source}: duplicate kid ${key.kid}`);
      kids.add(key.kid);
    }
    const active =
      activeKeyId === undefined ? keys[0] : keys.find((key) => key.kid === activeKeyId);
    if (!active) throw new ConfigError(`${source}: no key has the active kid ${activeKeyId}`);
    return new KeyStore(keys, active);
  }

  /** Reads a private JWKS file; see {@link fromJwks}. */
  static async fromFile(path: string, activeKeyId?: string): Promise<KeyStore> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigError(`cannot read key file ${path}: ${reason}`, { cause: error });
    }
    let jwks: unknown;
    try {
      jwks = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`key file ${path} is not valid JSON`, { cause: error });
    }
    return KeyStore.fromJwks(jwks, `key file ${path}`, activeKeyId);
  }

  /** Finds a key by `kid`. */
  find(kid: string): SigningKey | undefined {
    return this.#keys.find((key) => key.kid === kid);
  }

  /** Returns the public JWKS (RFC 7517 §5), without any private member. */
  publicJwks(): { keys: JWK[] } {
    return { keys: this.#keys.map((key) => ({ ...key.publicJwk })) };
  }
}

/** Generates a key pair and returns it as a private JWK with `kid`, `alg` and `use`. */
export async function generatePrivateJwk(alg: SigningAlgorithm, kid?: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  // RFC 7638 thumbprint, shortened: stable for the key and short enough to read in logs.
  const thumbprint = (await calculateJwkThumbprint(jwk, 'sha256')).slice(0, 16);
  return { ...jwk, kid: kid ?? thumbprint, alg, use: 'sig' };
}

async function generateSigningKey(alg: SigningAlgorithm): Promise<SigningKey> {
  return importSigningKey(await generatePrivateJwk(alg), 'generated key');
}

async function importSigningKey(jwk: JWK, where: string): Promise<SigningKey> {
  if (typeof jwk !== 'object' || jwk === null) throw new ConfigError(`${where} is not a JWK`);
  const alg = jwk.alg as SigningAlgorithm;
  if (!ALGORITHMS.includes(alg)) {
    throw new ConfigError(`${where}: alg must be one of ${ALGORITHMS.join(', ')}`);
  }
  if (typeof jwk.kid !== 'string' || jwk.kid === '') {
    throw new ConfigError(`${where}: kid is required`);
  }
  if (jwk.d === undefined) throw new ConfigError(`${where}: a private key is required (no "d")`);
  if (jwk.use !== undefined && jwk.use !== 'sig')
    throw new ConfigError(`${where}: use must be sig`);

  let privateKey: CryptoKey | KeyObject | Uint8Array;
  let nodeKey: NodeSigningKey['nodeKey'];
  try {
    privateKey = await importJWK(jwk, alg);
    nodeKey = importNodeSigningKey(jwk as JsonWebKey, alg);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${where}: cannot import the key: ${reason}`, { cause: error });
  }
  if (privateKey instanceof Uint8Array)
    throw new ConfigError(`${where}: symmetric keys are not supported`);

  const publicJwk: JWK = Object.fromEntries(
    Object.entries(jwk).filter(([member]) => !PRIVATE_MEMBERS.includes(member)),
  );
  delete publicJwk.key_ops;
  const key: SigningKey = {
    kid: jwk.kid,
    alg,
    privateKey,
    nodeKey,
    publicJwk: { ...publicJwk, use: 'sig' },
  };
  await checkSignAndVerify(key, where);
  return key;
}

/**
 * Signs a probe with `nodeKey`, as tokens are signed, and verifies it with jose and the published
 * public key. This rejects an RSA key under 2048 bits, which node:crypto signs with but jose
 * rejects at verification (RFC 7518 §3.3). It also rejects a public part that does not belong to the
 * private key, which would publish a JWKS that verifies nothing.
 * @throws ConfigError naming the key.
 */
async function checkSignAndVerify(key: SigningKey, where: string): Promise<void> {
  try {
    const probe = await signCompactJws(key, { alg: key.alg }, { probe: true });
    await compactVerify(probe, await importJWK(key.publicJwk, key.alg));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${where}: the key cannot sign and verify: ${reason}`, { cause: error });
  }
}
