import { decodeJwt, decodeProtectedHeader } from 'jose';
import { nestingDepth } from '../json-depth.js';

/** A JWT's header and claims, read without verifying the signature. */
export interface UnverifiedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/** Decoded JWTs larger than this, in characters of JSON, are not kept in the request log. */
export const MAX_DECODED_JWT_LENGTH = 16_384;

/**
 * Deepest nesting of objects and arrays kept. Deeper claims would make common JSON readers
 * (jq, Python) and even `JSON.stringify` of the whole log fail.
 */
export const MAX_DECODED_JWT_DEPTH = 32;

/**
 * Decodes a compact JWS without verifying it. Returns `undefined` for anything that is not a
 * three-part JWT with JSON header and claims, whose decoded form exceeds
 * {@link MAX_DECODED_JWT_LENGTH}, or whose claims nest deeper than {@link MAX_DECODED_JWT_DEPTH}.
 */
export function decodeUnverified(token: string): UnverifiedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || token.length > MAX_DECODED_JWT_LENGTH * 2) return undefined;
  try {
    const header = decodeProtectedHeader(token) as Record<string, unknown>;
    const claims = decodeJwt(token) as Record<string, unknown>;
    if (nestingDepth(header, MAX_DECODED_JWT_DEPTH) > MAX_DECODED_JWT_DEPTH) return undefined;
    if (nestingDepth(claims, MAX_DECODED_JWT_DEPTH) > MAX_DECODED_JWT_DEPTH) return undefined;
    // Serialising again can lengthen the JSON by up to about five times, as a number written
    // `1e20` becomes 21 digits. Below six times the cap, the check can therefore be skipped.
    const [encodedHeader = '', encodedClaims = ''] = parts;
    const decodedLength = ((encodedHeader.length + encodedClaims.length) * 3) / 4;
    if (decodedLength * 6 > MAX_DECODED_JWT_LENGTH) {
      const length = JSON.stringify(header).length + JSON.stringify(claims).length;
      if (length > MAX_DECODED_JWT_LENGTH) return undefined;
    }
    return { header, claims };
  } catch {
    return undefined;
  }
}

/**
 * Decodes a JWT's claims without verifying it and without the request log's size and depth
 * caps, because validation must see every claim (`may_act`, `scope`) that a token carries.
 * Returns `undefined` for anything that is not a three-part JWT with a JSON object of claims.
 */
export function decodeClaims(token: string): Record<string, unknown> | undefined {
  if (token.split('.').length !== 3) return undefined;
  try {
    return decodeJwt(token) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
