import type { FastifyInstance } from 'fastify';
import { authenticateClient } from '../client-auth/authenticate.js';
import type { ServerContext } from '../context.js';
import { UnauthorizedClientError } from '../errors.js';
import { acceptRawBodies, readFormParameters, requiredParameter } from '../http/form-request.js';
import { type ActiveToken, lookUpToken } from '../tokens/lookup.js';
import { revocationKey } from '../tokens/token-index.js';

export const REVOCATION_PATH = '/oauth2/revoke';

/**
 * Registers the RFC 7009 revocation endpoint. The client authenticates as at the token
 * endpoint. A revoked token is inactive at introspection and is rejected as a subject or actor
 * token. Every success has status 200 and an empty body, also for a token that is unknown,
 * malformed, expired or already revoked (RFC 7009 §2.2). `token_type_hint` is ignored, as
 * RFC 7009 §2.1 allows, so the server never returns `unsupported_token_type`.
 */
export async function revocationEndpoint(
  app: FastifyInstance,
  { server }: { server: ServerContext },
): Promise<void> {
  server.endpoints.add('revocation_endpoint', REVOCATION_PATH);
  acceptRawBodies(app);

  app.post(REVOCATION_PATH, async (request, reply) => {
    const parameters = readFormParameters(request);
    const client = authenticateClient(request.headers.authorization, parameters, server.clients);
    const token = requiredParameter(parameters, 'token');

    const found = await lookUpToken(server, token);
    if (!found.active) {
      request.log.debug({ reason: found.reason }, 'revocation of an inactive token ignored');
      return reply.code(200).send();
    }

    // RFC 7009 §2.1: the server checks that the token was issued to the requesting client.
    const owner = found.claims.client_id;
    if (owner !== client.clientId) {
      throw new UnauthorizedClientError('the token was not issued to this client', {
        detail: `the token was issued to client ${JSON.stringify(owner)}, not ${JSON.stringify(client.clientId)}`,
      });
    }

    revoke(server, found);
    request.log.debug(
      { fingerprint: found.fingerprint, clientId: client.clientId },
      'token revoked',
    );
    return reply.code(200).send();
  });
}

/**
 * Revokes an active token until its expiry. An opaque token is also dropped from the token
 * index, so that it stays inactive at introspection even after its revocation entry is evicted.
 * A JWT is revoked by its `jti`.
 */
function revoke(server: ServerContext, token: ActiveToken): void {
  const now = server.nowSeconds();
  const jti = token.claims.jti;
  if (token.format === 'jwt' && typeof jti === 'string') {
    server.tokenIndex.revoke(revocationKey.jti(jti), token.exp, now);
    return;
  }
  server.tokenIndex.revoke(revocationKey.fingerprint(token.fingerprint), token.exp, now);
  server.tokenIndex.forget(token.fingerprint);
}
