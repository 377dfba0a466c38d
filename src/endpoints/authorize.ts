import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { InvalidRequestError, UnsupportedResponseTypeError } from '../errors.js';

export const AUTHORIZE_PATH = '/oauth2/authorize';

/**
 * Registers `GET /oauth2/authorize`, an authorization endpoint that supports no response type.
 * It exists because client libraries reject metadata without `authorization_endpoint`, even for
 * a server that only exchanges tokens.
 *
 * Errors are sent as JSON and never redirected: no client registers a redirect URI here, and
 * RFC 6749 §4.1.2.1 forbids redirecting to a `redirect_uri` the server has not verified.
 */
export async function authorizeEndpoint(
  app: FastifyInstance,
  { server }: { server: ServerContext },
): Promise<void> {
  server.endpoints.add('authorization_endpoint', AUTHORIZE_PATH);
  app.get(AUTHORIZE_PATH, async (request) => {
    const queryStart = request.url.indexOf('?');
    const query = new URLSearchParams(queryStart === -1 ? '' : request.url.slice(queryStart + 1));
    // RFC 6749 §4.1.2.1: a missing parameter is invalid_request.
    if (!query.get('response_type')) {
      throw new InvalidRequestError('missing required parameter response_type');
    }
    throw new UnsupportedResponseTypeError(
      'this server supports no response type and issues tokens only at its token endpoint',
    );
  });
}
