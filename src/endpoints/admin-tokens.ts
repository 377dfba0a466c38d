import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { InvalidRequestError } from '../errors.js';
import { truncate } from '../grants/targets.js';
import { resolveIssuer } from '../http/issuer.js';
import {
  type MintedToken,
  MintOptionsError,
  type MintTokenOptions,
  mintToken,
} from '../tokens/mint.js';
import { requireAdminToken } from './admin-auth.js';

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
  // Checked before the body is parsed, so that a form or text body gets a precise error
  // instead of Fastify's unsupported media type error.
  app.addHook('onRequest', async (request) => {
    if (request.method !== 'POST') return;
    const contentType = request.headers['content-type'];
    if (!isJsonContentType(contentType)) {
      throw new InvalidRequestError('request body must be application/json', {
        detail: `Content-Type was ${contentType === undefined ? 'missing' : JSON.stringify(truncate(contentType))}`,
      });
    }
  });

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

/** Returns true when a `Content-Type` header names `application/json`, parameters ignored. */
function isJsonContentType(contentType: string | undefined): boolean {
  const mediaType = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  return mediaType === 'application/json';
}
