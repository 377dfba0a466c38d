import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { ServerContext } from '../context.js';
import { fingerprint } from './fingerprint.js';

/** Everything an issued access token says, whatever its format. */
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
  /** Seconds until expiry, equal to `exp - iat`. */
  expiresIn: number;
  /** Claims of the token, the same ones introspection reports. */
  claims: Record<string, unknown>;
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
  const iat = server.nowSeconds();
  const exp = iat + content.lifetime;
  const aud = content.audiences.length === 1 ? content.audiences[0] : [...content.audiences];
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
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .sign(key.privateKey);
    return { token, expiresIn: content.lifetime, claims };
  }

  if (!content.opaqueToken) throw new Error('the opaque format needs content.opaqueToken');
  const token = content.opaqueToken();
  server.tokenIndex.remember(fingerprint(token), { claims, tokenType: content.tokenType, exp });
  return { token, expiresIn: content.lifetime, claims };
}
