import { errors, type JWTHeaderParameters, jwtVerify } from 'jose';
import { SIGNING_ALGORITHMS } from '../config/schema.js';
import type { ServerContext } from '../context.js';
import { fingerprint } from './fingerprint.js';

/** An access token this server issued, still valid and not revoked. */
export interface ActiveToken {
  active: true;
  format: 'opaque' | 'jwt';
  /** Claims of the token: a verified JWT's claims, or the record of an opaque token. */
  claims: Record<string, unknown>;
  fingerprint: string;
  /** Expiry, in seconds since the epoch. */
  exp: number;
}

/** A token that is unknown, malformed, expired, revoked, or not signed by this server. */
export interface InactiveToken {
  active: false;
  /** Reason the token is inactive, for the server log. It names no secret. */
  reason: string;
}

/** RFC 9068 §2.2: the claims every JWT access token carries. */
const REQUIRED_JWT_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'];

/**
 * Thrown by the key resolver when the JWT header names no usable key of this server: no `kid`,
 * an unknown `kid`, or an `alg` other than that key's.
 */
class KeyResolutionError extends Error {}

/**
 * Looks up an access token this server issued, failing closed: anything that is not provably a
 * current, unrevoked token of this server is inactive.
 *
 * - An opaque token is active while the token index holds it and the server's clock is before
 *   its `exp`.
 * - Any other token must be a JWT whose `kid` names one of this server's keys, with a valid
 *   signature, `typ: at+jwt` (RFC 9068 §2.1), every RFC 9068 §2.2 claim, and an `exp` after the
 *   server's clock. Its `iss` is not compared, because without a configured issuer it depends on
 *   the `Host` header the token was requested with.
 * - A token revoked by its fingerprint or `jti` is inactive.
 * @throws only on failures of the server itself, never because of the token.
 */
export async function lookUpToken(
  server: ServerContext,
  token: string,
): Promise<ActiveToken | InactiveToken> {
  const tokenFingerprint = fingerprint(token);
  const issued = server.tokenIndex.find(tokenFingerprint);
  const found = issued
    ? checkOpaqueToken(server, issued.claims, issued.exp)
    : await verifyJwt(server, token);
  if (!found.active) return found;

  if (server.tokenIndex.isTokenRevoked(tokenFingerprint, found.claims.jti)) {
    return { active: false, reason: 'the token was revoked' };
  }
  return { ...found, fingerprint: tokenFingerprint };
}

type FoundToken = Omit<ActiveToken, 'fingerprint'> | InactiveToken;

function checkOpaqueToken(
  server: ServerContext,
  claims: Record<string, unknown>,
  exp: number,
): FoundToken {
  // RFC 7519 §4.1.4: the token must not be accepted on or after its expiry time.
  if (server.nowSeconds() >= exp) return { active: false, reason: 'the opaque token expired' };
  return { active: true, format: 'opaque', claims, exp };
}

async function verifyJwt(server: ServerContext, token: string): Promise<FoundToken> {
  if (token.split('.').length !== 3) {
    return { active: false, reason: 'the token is neither a known opaque token nor a JWT' };
  }
  const keys = await server.keys();
  const resolveKey = (header: JWTHeaderParameters) => {
    if (typeof header.kid !== 'string') throw new KeyResolutionError('the JWT header has no kid');
    const key = keys.find(header.kid);
    if (!key) throw new KeyResolutionError('the JWT kid names no key of this server');
    if (header.alg !== key.alg) {
      throw new KeyResolutionError(`the JWT alg ${header.alg} does not match key ${key.kid}`);
    }
    return key.publicJwk;
  };

  try {
    const { payload } = await jwtVerify(token, resolveKey, {
      typ: 'at+jwt',
      algorithms: [...SIGNING_ALGORITHMS],
      requiredClaims: REQUIRED_JWT_CLAIMS,
      currentDate: new Date(server.clock.now()),
    });
    // jwtVerify rejects a JWT whose required `exp` is missing or not a number.
    const exp = payload.exp as number;
    return { active: true, format: 'jwt', claims: payload as Record<string, unknown>, exp };
  } catch (error) {
    if (error instanceof KeyResolutionError) return { active: false, reason: error.message };
    if (error instanceof errors.JOSEError) {
      return { active: false, reason: `JWT rejected: ${error.code}: ${error.message}` };
    }
    throw error;
  }
}

/**
 * Checks only that a JWT carries a valid, unexpired signature by one of this server's keys,
 * whatever its `typ` and claims, such as a token minted for tests without `jti` or `client_id`.
 * Revocation uses it so that every token the token endpoint would accept from this server can be
 * revoked. Returns the claims, or `undefined`.
 */
export async function verifySignedBySelf(
  server: ServerContext,
  token: string,
): Promise<Record<string, unknown> | undefined> {
  if (token.split('.').length !== 3) return undefined;
  const keys = await server.keys();
  try {
    const { payload } = await jwtVerify(
      token,
      (header: JWTHeaderParameters) => {
        const key = typeof header.kid === 'string' ? keys.find(header.kid) : undefined;
        if (!key || header.alg !== key.alg) throw new KeyResolutionError('no matching key');
        return key.publicJwk;
      },
      { algorithms: [...SIGNING_ALGORITHMS], currentDate: new Date(server.clock.now()) },
    );
    return payload as Record<string, unknown>;
  } catch (error) {
    if (error instanceof KeyResolutionError || error instanceof errors.JOSEError) return undefined;
    throw error;
  }
}
