import { UnauthorizedClientError } from '../errors.js';
import { issueAccessToken } from '../tokens/issue.js';
import { issueClientCredentialsToken } from '../tokens/opaque.js';
import { TokenType } from '../tokens/token-types.js';
import { CLIENT_CREDENTIALS_GRANT } from './grant-types.js';
import type { GrantContext, GrantHandler, GrantResult } from './registry.js';
import { parseScope } from './scope.js';
import { readTargets } from './targets.js';
import { checkClientTargets, tokenSettings } from './token-settings.js';

export { CLIENT_CREDENTIALS_GRANT } from './grant-types.js';

/**
 * RFC 6749 §4.4 client credentials grant: the client obtains a token for itself, so the token's
 * `sub` and `client_id` are both the client id. `audience` and `resource` name the targets as in
 * token exchange, and the issuer is the audience when the request names none.
 */
export const clientCredentialsGrant: GrantHandler = {
  grantType: CLIENT_CREDENTIALS_GRANT,

  async handle({ parameters, client, issuer, server }: GrantContext): Promise<GrantResult> {
    // RFC 6749 §4.4: only confidential clients may use this grant, and §4.4.2 requires them to
    // authenticate. A client that sent only its client_id is public, because it has no secret.
    if (client.method === 'none') {
      throw new UnauthorizedClientError('the client_credentials grant requires a client secret', {
        detail: `client ${JSON.stringify(client.clientId)} authenticated with client_id alone`,
      });
    }

    const scope = parameters.one('scope');
    const { audiences, resources } = readTargets(parameters, server.config.maxTargets);
    const scopes = scope === undefined ? [] : parseScope(scope);
    checkClientTargets(server, client.clientId, audiences, resources);
    const targets = [...audiences, ...resources];
    const settings = tokenSettings(server, {
      clientId: client.clientId,
      issuer,
      sub: client.clientId,
      targets,
      requestedScopes: scopes,
    });
    const grantedScope = settings.scopes.length > 0 ? settings.scopes.join(' ') : undefined;

    const issued = await issueAccessToken(server, {
      format: settings.format,
      tokenType: TokenType.accessToken,
      issuer,
      sub: client.clientId,
      audiences: targets.length > 0 ? targets : [issuer],
      clientId: client.clientId,
      scope: grantedScope,
      extraClaims: settings.claims,
      lifetime: settings.lifetime,
      opaqueToken: () =>
        issueClientCredentialsToken({ clientId: client.clientId, audiences, resources, scopes }),
    });

    // RFC 6749 §4.4.3 and §5.1: `issued_token_type` is an RFC 8693 member and is left out.
    return {
      response: {
        access_token: issued.token,
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        ...(grantedScope !== undefined && { scope: grantedScope }),
      },
      issuedTokenType: TokenType.accessToken,
      grantedScope,
    };
  },
};
