import * as crypto from 'node:crypto';

/**
 * Computes the hex SHA-256 digest of a string's UTF-8 bytes. It uses the one-shot
 * `crypto.hash()` where it exists (Node.js 20.12 and later), which skips the Hash object that
 * `createHash()` builds and takes about a third of its time for short inputs.
 */
export const sha256Hex: (input: string) => string =
  typeof crypto.hash === 'function'
    ? (input) => crypto.hash('sha256', input, 'hex')
    : (input) => crypto.createHash('sha256').update(input, 'utf8').digest('hex');
