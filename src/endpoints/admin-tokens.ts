import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { InvalidRequestError } from '../errors.js';
import { resolveIssuer } from '../http/issuer.js';
import {
  type MintedToken,
  MintOptionsError,
  type MintTokenOptions,
  mintToken,
} from '../tokens/mint.js';
import { requireAdminToken } from './admin-auth.js';
import { requireJsonBodies } from './admin-json.js';

export const ADMIN_TOKENS_PATH = '/admin/tokens';

/**
 * Registers `POST /admin/tokens`, which signs a JWT for tests from a JSON body of minting
 * options and returns `{token, claims, header}`. It requires the admin token when one is
 * configured. Its requests are not recorded in the request log, which records token requests
 * only.
 */
export async function adminTokensEndpoint(
  app: FastifyInstance,
  { server }: { server: ServerContext },
): Promise<void> {
  app.addHook('onRequest', requireAdminToken(server.config.adminToken));
  requireJsonBodies(app);

  app.post(ADMIN_TOKENS_PATH, async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new InvalidRequestError('request body must be a JSON object');
    }
    const issuer = resolveIssuer(request, server.config);
    let minted: MintedToken;
    try {
      minted = await mintToken(
        {
          keys: () => server.keys(),
          nowSeconds: () => server.nowSeconds(),
          issuer: () => issuer,
        },
        body as MintTokenOptions,
      );
    } catch (error) {
      if (error instanceof MintOptionsError) throw new InvalidRequestError(error.message);
      throw error;
    }
    const { token, claims, header } = minted;
    return reply.code(200).type('application/json; charset=utf-8').send({ token, claims, header });
  });
}
