import {
  constants,
  createPrivateKey,
  type JsonWebKey,
  type KeyObject,
  type SignKeyObjectInput,
  sign,
} from 'node:crypto';
import type { SigningAlgorithm } from './keystore.js';

/** Private key as a node:crypto KeyObject, with the JWS algorithm it signs. */
export interface NodeSigningKey {
  alg: SigningAlgorithm;
  nodeKey: KeyObject;
}

/** Signs the JWS signing input with the algorithm's digest, padding and signature encoding. */
type SignatureFunction = (input: Buffer, key: KeyObject) => Buffer | Promise<Buffer>;

/**
 * RSA signs asynchronously, on libuv's thread pool: one RSA signature takes about 0.3 ms, which
 * would stall every other request if it ran on the event loop. ECDSA and Ed25519 take a tenth of
 * that and sign synchronously, because handing so little work to another thread costs more than
 * it saves.
 */
function signOffThread(
  digest: string,
  input: Buffer,
  key: KeyObject | SignKeyObjectInput,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    sign(digest, input, key, (error, signature) => (error ? reject(error) : resolve(signature)));
  });
}

const SIGNATURE_FUNCTIONS: Record<SigningAlgorithm, SignatureFunction> = {
  // RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256.
  RS256: (input, key) => signOffThread('sha256', input, key),
  // RFC 7518 §3.5: RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt.
  PS256: (input, key) =>
    signOffThread('sha256', input, {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 32,
    }),
  // RFC 7518 §3.4: ECDSA P-256 with SHA-256. The signature is R followed by S, 32 bytes each.
  ES256: (input, key) => sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }),
  // RFC 8037 §3.1: Ed25519 signs the message itself, with no separate digest.
  EdDSA: (input, key) => sign(null, input, key),
};

/** node:crypto `asymmetricKeyType` (and curve) that each algorithm needs. */
const KEY_TYPES: Record<SigningAlgorithm, { type: string; curve?: string }> = {
  RS256: { type: 'rsa' },
  PS256: { type: 'rsa' },
  ES256: { type: 'ec', curve: 'prime256v1' },
  EdDSA: { type: 'ed25519' },
};

/**
 * Imports a private JWK as a node:crypto KeyObject for {@link signCompactJws}. Call it once, when
 * the key is loaded, and not for each token.
 * @throws Error when node:crypto cannot import the JWK, or its key type does not suit `alg`.
 */
export function importNodeSigningKey(jwk: JsonWebKey, alg: SigningAlgorithm): KeyObject {
  const nodeKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const expected = KEY_TYPES[alg];
  const curve = nodeKey.asymmetricKeyDetails?.namedCurve;
  if (nodeKey.asymmetricKeyType !== expected.type || curve !== expected.curve) {
    const actual =
      curve === undefined ? nodeKey.asymmetricKeyType : `${nodeKey.asymmetricKeyType} ${curve}`;
    throw new Error(`key type ${actual} cannot sign ${alg}`);
  }
  return nodeKey;
}

/**
 * Signs `claims` as a JWS in compact serialization (RFC 7515 §7.1): the base64url of the UTF-8
 * JSON header, of the UTF-8 JSON claims and of the signature, joined by dots. Members appear in
 * JSON.stringify order, which is insertion order for names that are not array indices. Signing
 * goes through node:crypto, which costs far less per token than Web Crypto.
 * @throws Error when `header.alg` is not the key's algorithm.
 */
export async function signCompactJws(
  key: NodeSigningKey,
  header: { alg: SigningAlgorithm } & Record<string, unknown>,
  claims: Record<string, unknown>,
): Promise<string> {
  if (header.alg !== key.alg) {
    throw new Error(`header alg ${header.alg} does not match the ${key.alg} signing key`);
  }
  const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url');
  const encodedClaims = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signingInput = `${encodedHeader}.${encodedClaims}`;
  const signature = await SIGNATURE_FUNCTIONS[key.alg](Buffer.from(signingInput), key.nodeKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}
