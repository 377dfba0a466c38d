import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import { ConfigError } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import type { ServerContext } from '../context.js';
import type { KeyStore } from '../keys/keystore.js';
import { fetchJwksWithLimit, JWKS_TIMEOUT_MS } from './jwks-fetch.js';
import { quoted, TokenRejection } from './token-rejection.js';

/** The verification keys of one issuer. */
export interface IssuerKeySet {
  issuer: string;
  /** Picks the key for a JWS header, by `kid` and `alg`, as `jwtVerify` expects. */
  resolveKey: JWTVerifyGetKey;
  /** The keys, when known: always for local keys, after the first fetch for a `jwksUri`. */
  jwks(): JSONWebKeySet | undefined;
}

/** Members of a JWK that hold private key material (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * The key sets of the issuers a server trusts in `verify` mode: its own keys, and those of
 * `subjectTokens.trustedIssuers`. A JWKS file or inline key list is read once. A `jwksUri` gets
 * one jose remote key set for the server's life. That set caches the fetched keys and fetches
 * again when a `kid` is unknown (at most every 30 s) or the cache is older than 10 minutes. Each
 * fetch is limited to 5 s and 1 MiB (`JWKS_TIMEOUT_MS` and `MAX_JWKS_BYTES` of `jwks-fetch.ts`).
 */
export class IssuerKeys {
  readonly #server: ServerContext;
  #trusted: Promise<ReadonlyMap<string, IssuerKeySet>> | undefined;
  #own: { store: KeyStore; keySet: IssuerKeySet } | undefined;

  constructor(server: ServerContext) {
    this.#server = server;
  }

  /**
   * Loads the trusted issuers' keys, reading each `jwksFile`; later calls reuse the result.
   * @throws ConfigError when a JWKS file or an inline key list is unusable.
   */
  loadTrusted(): Promise<ReadonlyMap<string, IssuerKeySet>> {
    this.#trusted ??= loadTrustedIssuers(this.#server.config.subjectTokens.trustedIssuers);
    return this.#trusted;
  }

  /**
   * Finds the key set for a token's `iss`: a trusted issuer's keys, else this server's own keys
   * when `iss` is `ownIssuer`.
   * @throws TokenRejection when the issuer is not trusted.
   */
  async forIssuer(iss: string, ownIssuer: string): Promise<IssuerKeySet> {
    // A configured trusted issuer wins over this server's own issuer, which may come from the
    // request's Host header: a client must not be able to claim another issuer's name for the
    // server's keys by sending that Host.
    const trusted = (await this.loadTrusted()).get(iss);
    if (trusted !== undefined) return trusted;
    if (iss === ownIssuer) return this.#ownKeySet(ownIssuer);
    throw new TokenRejection(`issuer ${quoted(iss)} not trusted`);
  }

  async #ownKeySet(ownIssuer: string): Promise<IssuerKeySet> {
    const store = await this.#server.keys();
    if (this.#own?.store !== store) {
      this.#own = { store, keySet: localKeySet(ownIssuer, store.publicJwks()) };
    }
    // The issuer of a server without a configured `issuer` follows the request's Host header.
    return { ...this.#own.keySet, issuer: ownIssuer };
  }
}

const cache = new WeakMap<ServerContext, IssuerKeys>();

/** Returns the issuer key sets of a server, created on first use and kept for its life. */
export function issuerKeys(server: ServerContext): IssuerKeys {
  let keys = cache.get(server);
  if (keys === undefined) {
    keys = new IssuerKeys(server);
    cache.set(server, keys);
  }
  return keys;
}

type TrustedIssuerConfig = Config['subjectTokens']['trustedIssuers'][number];

async function loadTrustedIssuers(
  issuers: readonly TrustedIssuerConfig[],
): Promise<ReadonlyMap<string, IssuerKeySet>> {
  const keySets = new Map<string, IssuerKeySet>();
  for (const [index, trusted] of issuers.entries()) {
    const where = `subjectTokens.trustedIssuers[${index}]`;
    if (keySets.has(trusted.issuer)) {
      throw new ConfigError(`${where}.issuer: duplicate issuer ${trusted.issuer}`);
    }
    keySets.set(trusted.issuer, await trustedKeySet(trusted, where));
  }
  return keySets;
}

async function trustedKeySet(trusted: TrustedIssuerConfig, where: string): Promise<IssuerKeySet> {
  if (trusted.jwksUri !== undefined) return remoteKeySet(trusted.issuer, trusted.jwksUri);
  if (trusted.jwksFile !== undefined) {
    const jwks = await readJwksFile(trusted.jwksFile, `${where}.jwksFile`);
    return checkedLocalKeySet(trusted.issuer, jwks, `${where}.jwksFile ${trusted.jwksFile}`);
  }
  return checkedLocalKeySet(trusted.issuer, { keys: trusted.keys ?? [] }, `${where}.keys`);
}

async function readJwksFile(path: string, where: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${where}: cannot read ${path}: ${reason}`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${where}: ${path} is not valid JSON`, { cause: error });
  }
}

/**
 * Builds a key set from a JWKS given in the configuration. Private members are dropped, so a
 * private JWKS such as a signing key file can be named directly.
 * @throws ConfigError when the value is not a JWKS with at least one key.
 */
async function checkedLocalKeySet(
  issuer: string,
  jwks: unknown,
  where: string,
): Promise<IssuerKeySet> {
  const entries = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new ConfigError(`${where} must be a JWKS: an object with a non-empty "keys" array`);
  }
  const publicKeys: JWK[] = [];
  for (const [index, entry] of entries.entries()) {
    if (typeof entry !== 'object' || entry === null || typeof entry.kty !== 'string') {
      throw new ConfigError(`${where}: keys[${index}] is not a JWK with a "kty"`);
    }
    const jwk = publicMembers(entry as JWK);
    await checkImportable(jwk, `${where}: keys[${index}]`);
    publicKeys.push(jwk);
  }
  try {
    return localKeySet(issuer, { keys: publicKeys });
  } catch (error) {
    if (!(error instanceof errors.JOSEError)) throw error;
    throw new ConfigError(`${where}: ${error.message}`, { cause: error });
  }
}

function localKeySet(issuer: string, jwks: JSONWebKeySet): IssuerKeySet {
  const resolveKey = createLocalJWKSet(jwks);
  return { issuer, resolveKey, jwks: () => resolveKey.jwks() };
}

function remoteKeySet(issuer: string, jwksUri: string): IssuerKeySet {
  const remote = createRemoteJWKSet(new URL(jwksUri), {
    timeoutDuration: JWKS_TIMEOUT_MS,
    [customFetch]: fetchJwksWithLimit,
  });
  const resolveKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      // A key that is not in the fetched set is reported by the verifier, like a local one.
      if (
        error instanceof errors.JWKSNoMatchingKey ||
        error instanceof errors.JWKSMultipleMatchingKeys
      ) {
        throw error;
      }
      const reason = error instanceof errors.JWKSTimeout ? 'timed out' : describe(error);
      throw new TokenRejection(
        `the JWKS of issuer ${quoted(issuer)} could not be fetched from ${jwksUri}: ${reason}`,
      );
    }
  };
  return { issuer, resolveKey, jwks: () => remote.jwks() };
}

function publicMembers(jwk: JWK): JWK {
  return Object.fromEntries(
    Object.entries(jwk).filter(([member]) => !PRIVATE_MEMBERS.includes(member)),
  ) as JWK;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}

/**
 * Imports a public JWK once, so that a key jose cannot use (a malformed point, an RSA modulus
 * under 2048 bits) stops the server at startup instead of failing every token later.
 * @throws ConfigError naming the key.
 */
async function checkImportable(jwk: JWK, where: string): Promise<void> {
  const alg = typeof jwk.alg === 'string' ? jwk.alg : defaultAlgorithm(jwk);
  if (alg === undefined) return;
  try {
    await importJWK(jwk, alg);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${where} cannot be used: ${reason}`, { cause: error });
  }
}

/** Picks the algorithm to try a JWK without `alg` with, from its key type and curve. */
function defaultAlgorithm(jwk: JWK): string | undefined {
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return undefined;
}
