import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../src/tokens/sha256.js';

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 vector', () => {
    // FIPS 180-2 Appendix B.1: SHA-256("abc").
    expect(sha256Hex('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('hashes non-ASCII as UTF-8', () => {
    const input = 'api://ä-€-😀';
    expect(sha256Hex(input)).toBe(createHash('sha256').update(input, 'utf8').digest('hex'));
  });
});
