import { sha256Hex } from './sha256.js';

/** Number of hex characters kept from a SHA-256 digest in a token fingerprint. */
export const FINGERPRINT_LENGTH = 16;

/**
 * Computes the fingerprint under which the request log records a token: the first 16 hex
 * characters of the SHA-256 digest of the token's UTF-8 bytes. A test computes the same value
 * from its own token to find the entry.
 */
export function fingerprint(token: string): string {
  return sha256Hex(token).slice(0, FINGERPRINT_LENGTH);
}
