/** What introspection reports about an issued token (RFC 7662 §2.2). */
export interface IssuedTokenRecord {
  /** Claims of the token as a JWT would carry them: `sub`, `aud`, `scope`, `client_id`, `act`... */
  claims: Record<string, unknown>;
  /** Token type URI it was issued as. */
  tokenType: string;
  /** Expiry, in seconds since the epoch. */
  exp: number;
}

/**
 * Bounded memory of issued opaque tokens (for introspection) and of revoked tokens. Both are
 * maps in insertion order that drop their oldest entry when full, and are keyed by the SHA-256
 * fingerprint of the token, so no token is held in clear.
 */
export class TokenIndex {
  readonly capacity: number;
  readonly #issued = new Map<string, IssuedTokenRecord>();
  readonly #revoked = new Map<string, number>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Remembers an issued opaque token by its fingerprint. */
  remember(fingerprint: string, record: IssuedTokenRecord): void {
    this.#issued.delete(fingerprint);
    this.#issued.set(fingerprint, record);
    evictOldest(this.#issued, this.capacity);
  }

  find(fingerprint: string): IssuedTokenRecord | undefined {
    return this.#issued.get(fingerprint);
  }

  /** Marks a token as revoked until `exp` (seconds since the epoch). */
  revoke(key: string, exp: number): void {
    this.#revoked.delete(key);
    this.#revoked.set(key, exp);
    evictOldest(this.#revoked, this.capacity);
  }

  isRevoked(key: string): boolean {
    return this.#revoked.has(key);
  }

  get issuedCount(): number {
    return this.#issued.size;
  }

  get revokedCount(): number {
    return this.#revoked.size;
  }
}

function evictOldest<K, V>(map: Map<K, V>, capacity: number): void {
  while (map.size > capacity) {
    const oldest = map.keys().next();
    if (oldest.done) return;
    map.delete(oldest.value);
  }
}
