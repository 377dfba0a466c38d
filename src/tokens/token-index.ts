/** Record of an issued token, as introspection reports it (RFC 7662 §2.2). */
export interface IssuedTokenRecord {
  /** Claims of the token as a JWT would carry them: `sub`, `aud`, `scope`, `client_id`, `act`... */
  claims: Record<string, unknown>;
  /** Token type URI it was issued as. */
  tokenType: string;
  /** Expiry, in seconds since the epoch. */
  exp: number;
}

/**
 * Keys of the revocation list. A token is revoked by its fingerprint (opaque tokens) or by its
 * `jti` claim (JWTs). `validateInputToken` checks both keys for every subject and actor token.
 */
export const revocationKey = {
  fingerprint: (tokenFingerprint: string): string => `fingerprint:${tokenFingerprint}`,
  jti: (jti: string): string => `jti:${jti}`,
};

/**
 * Bounded memory of issued opaque tokens (for introspection) and of revoked tokens. Both are
 * maps in insertion order that hold at most `capacity` entries each, and are keyed by the SHA-256
 * fingerprint of the token or by its `jti`, so no token is held in clear.
 *
 * When the issued map is full, its oldest entry is dropped, and that token is no longer active
 * at introspection. When the revocation list is full, revocations of tokens that have expired
 * are dropped first, then the oldest. A dropped revocation of a JWT that has not expired makes
 * that JWT active again, so `capacity` must exceed the revocations a test makes.
 */
export class TokenIndex {
  readonly capacity: number;
  readonly #issued = new Map<string, IssuedTokenRecord>();
  /** Revocation key to the revoked token's `exp`, in seconds since the epoch. */
  readonly #revoked = new Map<string, number>();
  /** A lower bound of every `exp` in `#revoked`; no entry has expired before this time. */
  #earliestRevokedExp = Number.POSITIVE_INFINITY;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /**
   * Remembers an issued opaque token by its fingerprint. Opaque tokens are deterministic, so an
   * exchange repeated after a revocation issues the same string again. Each exchange is a new
   * grant, so remembering the token also lifts the revocation of that fingerprint.
   */
  remember(fingerprint: string, record: IssuedTokenRecord): void {
    this.#revoked.delete(revocationKey.fingerprint(fingerprint));
    this.#issued.delete(fingerprint);
    this.#issued.set(fingerprint, record);
    dropOldest(this.#issued, this.capacity);
  }

  find(fingerprint: string): IssuedTokenRecord | undefined {
    return this.#issued.get(fingerprint);
  }

  /** Forgets an issued opaque token, so that introspection no longer finds it. */
  forget(fingerprint: string): void {
    this.#issued.delete(fingerprint);
  }

  /**
   * Marks a token as revoked. The entry is kept at least until `exp` unless the list overflows;
   * see the class comment.
   * @param key a {@link revocationKey}.
   * @param exp the token's expiry, in seconds since the epoch.
   * @param nowSeconds the current time, in seconds since the epoch.
   */
  revoke(key: string, exp: number, nowSeconds: number): void {
    this.#revoked.delete(key);
    this.#revoked.set(key, exp);
    this.#earliestRevokedExp = Math.min(this.#earliestRevokedExp, exp);
    if (this.#revoked.size > this.capacity) this.#dropExpiredRevocations(nowSeconds);
    dropOldest(this.#revoked, this.capacity);
  }

  isRevoked(key: string): boolean {
    return this.#revoked.has(key);
  }

  /** Checks whether a token is revoked by its fingerprint or, when it has one, by its `jti`. */
  isTokenRevoked(tokenFingerprint: string, jti: unknown): boolean {
    return (
      this.isRevoked(revocationKey.fingerprint(tokenFingerprint)) ||
      (typeof jti === 'string' && this.isRevoked(revocationKey.jti(jti)))
    );
  }

  get issuedCount(): number {
    return this.#issued.size;
  }

  get revokedCount(): number {
    return this.#revoked.size;
  }

  /** Deletes revocations of expired tokens. Scans the list only when some entry has expired. */
  #dropExpiredRevocations(nowSeconds: number): void {
    if (this.#earliestRevokedExp > nowSeconds) return;
    let earliest = Number.POSITIVE_INFINITY;
    for (const [key, exp] of this.#revoked) {
      if (exp <= nowSeconds) this.#revoked.delete(key);
      else earliest = Math.min(earliest, exp);
    }
    this.#earliestRevokedExp = earliest;
  }
}

function dropOldest<K, V>(map: Map<K, V>, capacity: number): void {
  while (map.size > capacity) {
    const oldest = map.keys().next();
    if (oldest.done) return;
    map.delete(oldest.value);
  }
}
