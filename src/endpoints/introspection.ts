import type { FastifyInstance } from 'fastify';
import { authenticateClient } from '../client-auth/authenticate.js';
import type { ServerContext } from '../context.js';
import { acceptRawBodies, readFormParameters, requiredParameter } from '../http/form-request.js';
import { type ActiveToken, lookUpToken } from '../tokens/lookup.js';

export const INTROSPECTION_PATH = '/oauth2/introspect';

/** Claims copied from an active token into the introspection response (RFC 7662 §2.2). */
const REPORTED_CLAIMS = ['scope', 'client_id', 'exp', 'iat', 'sub', 'aud', 'iss', 'jti', 'act'];

/**
 * Registers the RFC 7662 introspection endpoint. The client authenticates as at the token
 * endpoint, and any authenticated client may introspect any token, because the resource servers
 * that introspect are not the clients the tokens were issued to. `token_type_hint` is ignored:
 * RFC 7662 §2.1 lets the server search all token types, and this server issues only access tokens.
 */
export async function introspectionEndpoint(
  app: FastifyInstance,
  { server }: { server: ServerContext },
): Promise<void> {
  server.endpoints.add('introspection_endpoint', INTROSPECTION_PATH);
  acceptRawBodies(app);

  app.post(INTROSPECTION_PATH, async (request, reply) => {
    const parameters = readFormParameters(request);
    // The client authenticates before the token is read, so an unauthenticated caller learns
    // nothing about the request.
    authenticateClient(request.headers.authorization, parameters, server.clients);
    const token = requiredParameter(parameters, 'token');

    const found = await lookUpToken(server, token);
    reply.code(200).type('application/json; charset=utf-8');
    if (!found.active) {
      request.log.debug({ reason: found.reason }, 'introspected token is inactive');
      // RFC 7662 §2.2: an inactive token gets `active: false` and no other member.
      return reply.send({ active: false });
    }
    return reply.send(introspectionResponse(found));
  });
}

/**
 * Builds the RFC 7662 §2.2 response for an active token. A claim the token lacks is left out,
 * never sent as null. `act` (RFC 8693 §4.1) names the actor of a delegated token.
 */
function introspectionResponse(token: ActiveToken): Record<string, unknown> {
  const response: Record<string, unknown> = { active: true, token_type: 'Bearer' };
  for (const name of REPORTED_CLAIMS) {
    const value = token.claims[name];
    if (value !== undefined && value !== null) response[name] = value;
  }
  return response;
}
