import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { ServerContext } from '../context.js';
import { signCompactJws } from '../keys/sign.js';
import { fingerprint } from './fingerprint.js';

/** Content of an issued access token, whatever its format. */
export interface AccessTokenContent {
  format: 'opaque' | 'jwt';
  /** Token type URI it is issued as (`issued_token_type`). */
  tokenType: string;
  issuer: string;
  sub: string;
  /** Resolved audiences and resources; the issuer when the request named none. */
  audiences: readonly string[];
  clientId: string;
  /** Granted scope, or `undefined` for none. */
  scope: string | undefined;
  /** RFC 8693 §4.1 actor claim, when the token is issued to an actor. */
  act?: Record<string, unknown>;
  /** Claims added from configuration; registered claims always win over them. */
  extraClaims: Record<string, unknown>;
  /** Lifetime in seconds. */
  lifetime: number;
  /** Builds the grant's deterministic opaque token; required for the opaque format. */
  opaqueToken?: () => string;
}

export interface IssuedAccessToken {
  token: string;
  /** Seconds until expiry: `exp - iat`, or 0 for a token issued already expired. */
  expiresIn: number;
  /** Claims of the token, the same ones introspection reports. */
  claims: Record<string, unknown>;
}

/** Changes a `modify` rule makes to the tokens issued while handling one request. */
export interface IssueOverrides {
  /**
   * Issue a token whose `exp` is {@link EXPIRED_TOKEN_AGE} seconds in the past, with `expiresIn`
   * 0. Near the epoch, `exp` and `iat` stop at 0 instead of going negative.
   */
  expired?: boolean;
  /** Issue the token for this audience alone, instead of the requested targets. */
  audience?: string;
}

/**
 * Seconds before the current time at which an expired token expires, chosen larger than a
 * clock-skew leeway of a minute or so. NOTE: a verifier whose leeway exceeds 300 s still accepts it.
 * Near the epoch `exp` stops at 0, so there any leeway longer than the clock's seconds since the
 * epoch accepts the token.
 */
export const EXPIRED_TOKEN_AGE = 300;

const issueOverrides = new AsyncLocalStorage<IssueOverrides>();

/**
 * Runs `work` (a grant handler) so that every {@link issueAccessToken} call inside it applies
 * `overrides`. Grants then issue the changed token themselves, signed as usual.
 */
export function withIssueOverrides<T>(overrides: IssueOverrides, work: () => T): T {
  // On Node.js 20, AsyncLocalStorage.run() switches on async hooks for every later promise in
  // the process, so requests without overrides skip it.
  if (overrides.expired === undefined && overrides.audience === undefined) return work();
  return issueOverrides.run(overrides, work);
}

/**
 * Issues an access token. A JWT follows RFC 9068 (header `typ: at+jwt` and `kid`, claims `iss`,
 * `sub`, `aud`, `client_id`, `scope`, `iat`, `exp`, `jti`) and is signed by the active key. An
 * opaque token is remembered in the token index so that introspection can find it.
 */
export async function issueAccessToken(
  server: ServerContext,
  content: AccessTokenContent,
): Promise<IssuedAccessToken> {
  const overrides = issueOverrides.getStore() ?? {};
  const now = server.nowSeconds();
  // A NumericDate counts seconds from 1970-01-01 (RFC 7519 §2), so an expired token's times stop
  // at 0 rather than name an earlier instant. `exp` stays at most `now`, so the token is expired.
  const exp = overrides.expired ? Math.max(0, now - EXPIRED_TOKEN_AGE) : now + content.lifetime;
  const iat = overrides.expired ? Math.max(0, exp - content.lifetime) : now;
  const expiresIn = overrides.expired ? 0 : content.lifetime;
  const audiences = overrides.audience !== undefined ? [overrides.audience] : content.audiences;
  const aud = audiences.length === 1 ? audiences[0] : [...audiences];
  const claims: Record<string, unknown> = {
    ...content.extraClaims,
    iss: content.issuer,
    sub: content.sub,
    aud,
    client_id: content.clientId,
    ...(content.scope !== undefined && { scope: content.scope }),
    iat,
    exp,
    jti: randomUUID(),
    ...(content.act !== undefined && { act: content.act }),
  };

  if (content.format === 'jwt') {
    const key = (await server.keys()).active;
    const token = await signCompactJws(key, { alg: key.alg, kid: key.kid, typ: 'at+jwt' }, claims);
    return { token, expiresIn, claims };
  }

  if (!content.opaqueToken) throw new Error('the opaque format needs content.opaqueToken');
  const token = content.opaqueToken();
  server.tokenIndex.remember(fingerprint(token), { claims, tokenType: content.tokenType, exp });
  return { token, expiresIn, claims };
}
