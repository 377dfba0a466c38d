import type { AuthenticatedClient } from '../client-auth/authenticate.js';
import type { ServerContext } from '../context.js';
import { InvalidGrantError, InvalidRequestError, type OAuthErrorOptions } from '../errors.js';
import { decodeClaims } from '../tokens/decode.js';
import { fingerprint } from '../tokens/fingerprint.js';
import { parseCompactJws } from './jwt-structure.js';
import { TokenRejection } from './token-rejection.js';
import {
  checkIssuedTokenType,
  checkJwtType,
  type InputTokenRole,
  rejectRefreshTokenType,
} from './token-type.js';
import { checkExpiry, verifyJwt } from './verify.js';

export type { InputTokenRole } from './token-type.js';

/** A subject or actor token after validation. */
export interface ValidatedToken {
  /** Claims of the token: a JWT's claims, or the record of an opaque token this server issued. */
  claims: Record<string, unknown> | undefined;
  /** True when the signature was checked (validation mode `verify`). */
  verified: boolean;
  fingerprint: string;
}

/** The request facts validation depends on. */
export interface InputTokenContext {
  server: ServerContext;
  /** This server's issuer identifier for the request (RFC 8414 §2). */
  issuer: string;
  client: AuthenticatedClient;
}

/**
 * Validates a subject or actor token according to `subjectTokens.validation`:
 *
 * - `none`: any non-empty string; a JWT is decoded, unverified, for its claims.
 * - `jwt`: a well-formed JWS compact JWT of the declared token type; its claims are used.
 * - `verify`: as `jwt`, plus the checks of {@link verifyJwt}.
 *
 * In every mode an opaque access token this server issued carries the claims recorded for it,
 * and a revoked token is rejected. In `jwt` and `verify` modes an issued opaque token must be
 * declared as an access token, and `verify` mode rejects it once expired.
 * @throws InvalidRequestError (or InvalidGrantError, by `subjectTokens.errorCode`) with the
 * private reason in its detail.
 */
export async function validateInputToken(
  context: InputTokenContext,
  role: InputTokenRole,
  token: string,
  tokenType: string,
): Promise<ValidatedToken> {
  const { server } = context;
  let validated: ValidatedToken;
  try {
    validated = await readInputToken(context, role, token, tokenType);
  } catch (error) {
    if (error instanceof TokenRejection) throw invalidInputToken(server, role, error.message);
    throw error;
  }

  if (server.tokenIndex.isTokenRevoked(validated.fingerprint, validated.claims?.jti)) {
    throw invalidInputToken(server, role, `${role} token was revoked`);
  }
  return validated;
}

async function readInputToken(
  context: InputTokenContext,
  role: InputTokenRole,
  token: string,
  tokenType: string,
): Promise<ValidatedToken> {
  const { server } = context;
  const mode = server.config.subjectTokens.validation;
  const tokenFingerprint = fingerprint(token);
  const issued = server.tokenIndex.find(tokenFingerprint);

  if (mode === 'none') {
    const claims = decodeClaims(token) ?? issued?.claims;
    return { claims, verified: false, fingerprint: tokenFingerprint };
  }

  rejectRefreshTokenType(role, tokenType, mode);
  if (issued !== undefined) {
    checkIssuedTokenType(role, tokenType);
    if (mode === 'verify') {
      checkExpiry(issued.exp, server.nowSeconds(), server.config.subjectTokens.clockSkew);
    }
    return { claims: issued.claims, verified: mode === 'verify', fingerprint: tokenFingerprint };
  }

  const jwt = parseCompactJws(token);
  checkJwtType(role, tokenType, jwt);
  if (mode === 'jwt') return { claims: jwt.claims, verified: false, fingerprint: tokenFingerprint };

  const claims = await verifyJwt(
    {
      server,
      ownIssuer: context.issuer,
      clientId: context.client.clientId,
      isSubject: role === 'subject',
    },
    token,
    jwt,
  );
  return { claims, verified: true, fingerprint: tokenFingerprint };
}

/** Builds the error for a subject or actor token that fails validation (RFC 8693 §2.2.2). */
export function invalidInputToken(
  server: ServerContext,
  role: InputTokenRole,
  detail: string,
  options: Omit<OAuthErrorOptions, 'detail'> = {},
): InvalidRequestError | InvalidGrantError {
  return inputTokenError(server, `${role}_token is invalid`, detail, options);
}

/**
 * Builds the error for a subject or actor token that is invalid or unacceptable by policy, such
 * as a `may_act` that does not name the actor. RFC 8693 §2.2.2 requires `invalid_request` for
 * both; `subjectTokens.errorCode: invalid_grant` switches every such error to `invalid_grant`.
 */
export function inputTokenError(
  server: ServerContext,
  description: string,
  detail: string,
  options: Omit<OAuthErrorOptions, 'detail'> = {},
): InvalidRequestError | InvalidGrantError {
  return server.config.subjectTokens.errorCode === 'invalid_grant'
    ? new InvalidGrantError(description, { ...options, detail })
    : new InvalidRequestError(description, { ...options, detail });
}
