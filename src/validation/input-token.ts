import type { ServerContext } from '../context.js';
import { InvalidGrantError, InvalidRequestError, type OAuthErrorOptions } from '../errors.js';
import { decodeUnverified } from '../tokens/decode.js';
import { fingerprint } from '../tokens/fingerprint.js';

/** A subject or actor token after validation. */
export interface ValidatedToken {
  /** Claims of the token: a JWT's claims, or the record of an opaque token this server issued. */
  claims: Record<string, unknown> | undefined;
  /** True when the signature was checked (validation mode `verify`). */
  verified: boolean;
  fingerprint: string;
}

export type InputTokenRole = 'subject' | 'actor';

/**
 * Validates a subject or actor token according to `subjectTokens.validation`. In every mode a
 * token this server has revoked is rejected.
 * @throws InvalidRequestError (or InvalidGrantError, by `subjectTokens.errorCode`) with the
 * private reason in its detail.
 */
export async function validateInputToken(
  server: ServerContext,
  role: InputTokenRole,
  token: string,
  _tokenType: string,
): Promise<ValidatedToken> {
  const tokenFingerprint = fingerprint(token);
  const decoded = decodeUnverified(token);
  const issued = server.tokenIndex.find(tokenFingerprint);
  const claims = decoded?.claims ?? issued?.claims;

  const jti = typeof claims?.jti === 'string' ? claims.jti : undefined;
  if (
    server.tokenIndex.isRevoked(`fingerprint:${tokenFingerprint}`) ||
    (jti !== undefined && server.tokenIndex.isRevoked(`jti:${jti}`))
  ) {
    throw invalidInputToken(server, role, `${role} token was revoked`);
  }

  return { claims, verified: false, fingerprint: tokenFingerprint };
}

/** Builds the error for a subject or actor token that fails validation (RFC 8693 §2.2.2). */
export function invalidInputToken(
  server: ServerContext,
  role: InputTokenRole,
  detail: string,
  options: Omit<OAuthErrorOptions, 'detail'> = {},
): InvalidRequestError | InvalidGrantError {
  const description = `${role}_token is invalid`;
  return server.config.subjectTokens.errorCode === 'invalid_grant'
    ? new InvalidGrantError(description, { ...options, detail })
    : new InvalidRequestError(description, { ...options, detail });
}
