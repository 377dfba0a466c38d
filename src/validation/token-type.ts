import type { Config } from '../config/schema.js';
import { TokenType } from '../tokens/token-types.js';
import type { CompactJws } from './jwt-structure.js';
import { quoted, TokenRejection } from './token-rejection.js';

export type InputTokenRole = 'subject' | 'actor';

type ValidationMode = Config['subjectTokens']['validation'];

const TOKEN_TYPE_PREFIX = 'urn:ietf:params:oauth:token-type:';

/**
 * Claims that OpenID Connect Core 1.0 defines for ID tokens only: `nonce` (§2), `at_hash`
 * (§3.1.3.6) and `c_hash` (§3.3.2.11). `auth_time` is not among them, because RFC 9068 §2.2.1
 * allows it in JWT access tokens too.
 */
const ID_TOKEN_CLAIMS = ['nonce', 'at_hash', 'c_hash'] as const;

/**
 * Rejects a `refresh_token` subject or actor token in the `jwt` and `verify` modes. This server
 * issues no refresh tokens, and a refresh token from another server can be checked only by the
 * server that issued it, so the declared type cannot be honoured.
 * @throws TokenRejection when `declaredType` is the refresh token type.
 */
export function rejectRefreshTokenType(
  role: InputTokenRole,
  declaredType: string,
  mode: ValidationMode,
): void {
  if (declaredType !== TokenType.refreshToken) return;
  throw new TokenRejection(
    `${role}_token_type refresh_token is not accepted in ${mode} mode, because this server issues no refresh tokens`,
  );
}

/**
 * Checks that an opaque token this server issued is declared as what it is, an access token.
 * @throws TokenRejection for any other declared type.
 */
export function checkIssuedTokenType(role: InputTokenRole, declaredType: string): void {
  if (declaredType === TokenType.accessToken) return;
  throw new TokenRejection(
    `the token is an opaque access token issued by this server, which does not match ${role}_token_type ${shortTypeName(declaredType)}`,
  );
}

/**
 * Checks that a JWT is of the declared token type (RFC 8693 §2.1):
 *
 * - `access_token`: `typ` is `at+jwt` (RFC 9068 §2.1), or `typ` is absent or `JWT` and the
 *   token carries none of the ID token claims `nonce`, `at_hash` and `c_hash`.
 * - `id_token`: any JWT except one with `typ` `at+jwt`.
 * - `jwt` and any other accepted type: any JWT.
 *
 * `typ` is a media type, so it is compared without case and with or without its
 * `application/` prefix (RFC 7515 §4.1.9).
 * @throws TokenRejection naming the mismatch.
 */
export function checkJwtType(role: InputTokenRole, declaredType: string, jwt: CompactJws): void {
  const parameter = `${role}_token_type ${shortTypeName(declaredType)}`;
  const typ = jwt.header.typ;
  if (typ !== undefined && typeof typ !== 'string') {
    throw new TokenRejection('the header typ is not a string');
  }
  const mediaType = typ === undefined ? undefined : normalizeMediaType(typ);

  if (declaredType === TokenType.accessToken) {
    if (mediaType === 'at+jwt') return;
    if (mediaType !== undefined && mediaType !== 'jwt') {
      throw new TokenRejection(`typ ${quoted(typ as string)} does not match ${parameter}`);
    }
    const idTokenClaim = ID_TOKEN_CLAIMS.find((claim) => jwt.claims[claim] !== undefined);
    if (idTokenClaim !== undefined) {
      throw new TokenRejection(
        `the JWT is an ID token (it has a ${idTokenClaim} claim and typ is not at+jwt), which does not match ${parameter}`,
      );
    }
    return;
  }

  if (declaredType === TokenType.idToken && mediaType === 'at+jwt') {
    throw new TokenRejection(`typ ${quoted(typ as string)} does not match ${parameter}`);
  }
}

/** Shortens a registered token type URI to its last segment, such as `access_token`. */
export function shortTypeName(tokenType: string): string {
  return tokenType.startsWith(TOKEN_TYPE_PREFIX)
    ? tokenType.slice(TOKEN_TYPE_PREFIX.length)
    : quoted(tokenType);
}

function normalizeMediaType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}
