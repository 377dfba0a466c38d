import {
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import { SIGNING_ALGORITHMS } from '../config/schema.js';
import type { ServerContext } from '../context.js';
import { type IssuerKeySet, issuerKeys } from './issuer-keys.js';
import type { CompactJws } from './jwt-structure.js';
import { quoted, TokenRejection } from './token-rejection.js';

/** Request facts that `verify` mode needs besides the token. */
export interface VerifyInput {
  server: ServerContext;
  /** This server's issuer identifier for the request; tokens with this `iss` use its own keys. */
  ownIssuer: string;
  /** The authenticated client, required in `aud` with `subjectTokens.requireClientInAudience`. */
  clientId: string;
  /** Whether the token is the subject token, the only one `requireClientInAudience` applies to. */
  isSubject: boolean;
}

const ALGORITHMS: readonly string[] = SIGNING_ALGORITHMS;

/**
 * Verifies a JWT in `verify` mode. It checks an allowed `alg` (never `none`), an `iss` that is
 * this server or a trusted issuer, and a signature by one of that issuer's keys. It checks `exp`
 * and `nbf` against the server clock with `subjectTokens.clockSkew` seconds of tolerance, and,
 * for a subject token with `requireClientInAudience`, the client in `aud`.
 * @returns the verified claims.
 * @throws TokenRejection naming the first check that failed.
 */
export async function verifyJwt(
  input: VerifyInput,
  token: string,
  jwt: CompactJws,
): Promise<Record<string, unknown>> {
  const { server } = input;
  const alg = jwt.header.alg as string;
  if (alg === 'none') throw new TokenRejection('alg none is not accepted in verify mode');
  if (!ALGORITHMS.includes(alg)) {
    throw new TokenRejection(
      `alg ${quoted(alg)} is not accepted; verify mode accepts ${ALGORITHMS.join(', ')}`,
    );
  }

  const iss = jwt.claims.iss;
  if (iss === undefined) throw new TokenRejection('iss is missing');
  if (typeof iss !== 'string') throw new TokenRejection('iss is not a string');
  const keySet = await issuerKeys(server).forIssuer(iss, input.ownIssuer);

  const skew = server.config.subjectTokens.clockSkew;
  const options: JWTVerifyOptions = {
    algorithms: [...ALGORITHMS],
    currentDate: new Date(server.clock.now()),
    clockTolerance: skew,
  };
  let payload: JWTPayload;
  try {
    payload = await verifyWithKeySet(token, keySet.resolveKey, options);
  } catch (error) {
    throw rejectionFor(error, { jwt, keySet, now: server.nowSeconds(), skew });
  }

  if (input.isSubject && server.config.subjectTokens.requireClientInAudience) {
    checkClientInAudience(payload.aud, input.clientId);
  }
  return payload as Record<string, unknown>;
}

/**
 * Rejects an expired token, for the opaque tokens this server issued, whose expiry is in the
 * token index rather than in the token.
 * @throws TokenRejection when `exp` is past by `skew` seconds or more.
 */
export function checkExpiry(exp: number, now: number, skew: number): void {
  // The boundary is the one jose applies to JWTs: expired when exp <= now - skew.
  if (exp <= now - skew) throw new TokenRejection(expiredDetail(exp, now, skew));
}

/**
 * Runs `jwtVerify`. A token without `kid` may match several keys of the set, so each is tried in
 * turn, and the token is valid when one of them verifies the signature.
 */
async function verifyWithKeySet(
  token: string,
  resolveKey: JWTVerifyGetKey,
  options: JWTVerifyOptions,
): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, resolveKey, options)).payload;
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    let lastError: unknown = new errors.JWSSignatureVerificationFailed();
    for await (const key of error) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (keyError) {
        if (!(keyError instanceof errors.JWSSignatureVerificationFailed)) throw keyError;
        lastError = keyError;
      }
    }
    throw lastError;
  }
}

interface FailureContext {
  jwt: CompactJws;
  keySet: IssuerKeySet;
  now: number;
  skew: number;
}

/** Translates a jose error into a rejection whose detail names the failed check. */
function rejectionFor(error: unknown, context: FailureContext): TokenRejection {
  if (error instanceof TokenRejection) return error;
  const { jwt, now, skew } = context;
  if (error instanceof errors.JWKSNoMatchingKey) return missingKey(context);
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new TokenRejection('signature does not verify');
  }
  if (error instanceof errors.JWTExpired && error.claim === 'exp') {
    return new TokenRejection(expiredDetail(jwt.claims.exp as number, now, skew));
  }
  if (
    error instanceof errors.JWTClaimValidationFailed &&
    error.claim === 'nbf' &&
    error.reason === 'check_failed'
  ) {
    const nbf = jwt.claims.nbf as number;
    return new TokenRejection(
      `not valid before ${isoTime(nbf)}, ${nbf - now} s from now (clock skew ${skew} s)`,
    );
  }
  if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired) {
    return new TokenRejection(`claim ${error.claim} is invalid: ${error.message}`);
  }
  if (error instanceof errors.JOSEError) {
    return new TokenRejection(`verification failed (${error.code}): ${error.message}`);
  }
  // Web Crypto rejects some keys only when they are used, such as a malformed key fetched from
  // a jwksUri. That makes the token unverifiable, not the server faulty.
  const reason = error instanceof Error ? error.message : String(error);
  return new TokenRejection(
    `the keys of issuer ${quoted(context.keySet.issuer)} cannot verify: ${reason}`,
  );
}

/** Explains why no key matched: an unknown `kid`, or a key that does not accept the `alg`. */
function missingKey({ jwt, keySet }: FailureContext): TokenRejection {
  const { kid, alg } = jwt.header;
  const issuer = quoted(keySet.issuer);
  if (typeof kid !== 'string') {
    return new TokenRejection(
      `no key of issuer ${issuer} accepts alg ${alg}, and the token has no kid`,
    );
  }
  const known = keySet.jwks()?.keys.find((key) => key.kid === kid);
  if (known === undefined) {
    return new TokenRejection(`kid ${quoted(kid)} not found in the keys of issuer ${issuer}`);
  }
  const keyAlg = known.alg === undefined ? `a ${known.kty} key` : `for alg ${known.alg}`;
  return new TokenRejection(
    `key ${quoted(kid)} of issuer ${issuer} is ${keyAlg} and does not accept alg ${alg}`,
  );
}

function checkClientInAudience(aud: unknown, clientId: string): void {
  if (aud === undefined) {
    throw new TokenRejection(
      `aud is missing, and subjectTokens.requireClientInAudience requires client ${quoted(clientId)} in it`,
    );
  }
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(clientId)) {
    throw new TokenRejection(
      `client ${quoted(clientId)} is not in aud ${quoted(JSON.stringify(aud))}`,
    );
  }
}

function expiredDetail(exp: number, now: number, skew: number): string {
  return `expired ${now - exp} s ago (exp ${isoTime(exp)}, clock skew ${skew} s)`;
}

/** Formats seconds since the epoch as an ISO 8601 time without milliseconds. */
function isoTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString().replace('.000Z', 'Z');
}
