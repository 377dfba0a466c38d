import type { FastifyInstance } from 'fastify';
import { authenticateClient } from '../client-auth/authenticate.js';
import type { ServerContext } from '../context.js';
import { UnauthorizedClientError } from '../errors.js';
import { acceptRawBodies, readFormParameters, requiredParameter } from '../http/form-request.js';
import { fingerprint } from '../tokens/fingerprint.js';
import { type ActiveToken, lookUpToken, verifySignedBySelf } from '../tokens/lookup.js';
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
      // A JWT this server signed without every RFC 9068 claim, such as a minted test token, is
      // inactive at introspection but still accepted as a subject token, so it is revoked too.
      const signed = await verifySignedBySelf(server, token);
      if (
        signed !== undefined &&
        !server.tokenIndex.isTokenRevoked(fingerprint(token), signed.jti)
      ) {
        checkOwner(signed.client_id, client.clientId, true);
        revokeSigned(server, token, signed);
        request.log.debug({ clientId: client.clientId }, 'signed token revoked');
        return reply.code(200).send();
      }
      request.log.debug({ reason: found.reason }, 'revocation of an inactive token ignored');
      return reply.code(200).send();
    }

    checkOwner(found.claims.client_id, client.clientId, false);

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

/**
 * RFC 7009 §2.1: the server checks that the token was issued to the requesting client. A token
 * without `client_id` was issued to no client, so any authenticated client may revoke it when
 * `ownerOptional` is set.
 * @throws UnauthorizedClientError when the token names another client.
 */
function checkOwner(owner: unknown, clientId: string, ownerOptional: boolean): void {
  if (owner === clientId) return;
  if (ownerOptional && owner === undefined) return;
  throw new UnauthorizedClientError('the token was not issued to this client', {
    detail: `the token was issued to client ${JSON.stringify(owner)}, not ${JSON.stringify(clientId)}`,
  });
}

/** Revokes a signed JWT by its fingerprint, and by its `jti` when it has one, until its `exp`. */
function revokeSigned(server: ServerContext, token: string, claims: Record<string, unknown>): void {
  const now = server.nowSeconds();
  // A JWT without a numeric `exp` never expires, so its revocation is kept for a year.
  const exp = typeof claims.exp === 'number' ? claims.exp : now + 31_536_000;
  server.tokenIndex.revoke(revocationKey.fingerprint(fingerprint(token)), exp, now);
  if (typeof claims.jti === 'string')
    server.tokenIndex.revoke(revocationKey.jti(claims.jti), exp, now);
}
