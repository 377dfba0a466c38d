import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';

export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * Registers `GET /.well-known/jwks.json`, the RFC 7517 §5 JWK Set of the public signing keys:
 * every key of the key store with `kid`, `alg` and `use: sig`, and no private member.
 */
export async function jwksEndpoint(
  app: FastifyInstance,
  { server }: { server: ServerContext },
): Promise<void> {
  server.endpoints.add('jwks_uri', JWKS_PATH);
  app.get(JWKS_PATH, async (_request, reply) => {
    const keys = await server.keys();
    return reply.type('application/json; charset=utf-8').send(keys.publicJwks());
  });
}
