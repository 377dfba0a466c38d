import { decodeJwt, decodeProtectedHeader } from 'jose';

/** A JWT's header and claims, read without verifying the signature. */
export interface UnverifiedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/** Decoded JWTs larger than this, in characters of JSON, are not kept in the request log. */
export const MAX_DECODED_JWT_LENGTH = 16_384;

/**
 * Decodes a compact JWS without verifying it. Returns `undefined` for anything that is not a
 * three-part JWT with JSON header and claims, or whose decoded form exceeds
 * {@link MAX_DECODED_JWT_LENGTH}.
 */
export function decodeUnverified(token: string): UnverifiedJwt | undefined {
  if (token.split('.').length !== 3) return undefined;
  try {
    const header = decodeProtectedHeader(token) as Record<string, unknown>;
    const claims = decodeJwt(token) as Record<string, unknown>;
    const length = JSON.stringify(header).length + JSON.stringify(claims).length;
    if (length > MAX_DECODED_JWT_LENGTH) return undefined;
    return { header, claims };
  } catch {
    return undefined;
  }
}
