import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateClient, claimedClient } from '../client-auth/authenticate.js';
import type { ServerContext } from '../context.js';
import { InvalidRequestError, OAuthError, UnsupportedGrantTypeError } from '../errors.js';
import { truncate } from '../grants/targets.js';
import { sanitizeErrorText } from '../http/error-handler.js';
import { acceptRawBodies, readFormParameters } from '../http/form-request.js';
import { resolveIssuer } from '../http/issuer.js';
import { buildEntry, type TokenRequestState } from '../request-log/record.js';

export const TOKEN_PATH = '/oauth2/token';

declare module 'fastify' {
  interface FastifyRequest {
    /** Progress of a token request, recorded in the request log when the response is sent. */
    tokenRequest?: TokenRequestState;
  }
}

/**
 * Registers the token endpoint (RFC 6749 §3.2) in its own plugin scope, where every body is
 * read as raw bytes so that the endpoint alone decides how to parse it.
 */
export async function tokenEndpoint(
  app: FastifyInstance,
  { server: deps }: { server: ServerContext },
): Promise<void> {
  deps.endpoints.add('token_endpoint', TOKEN_PATH);
  acceptRawBodies(app);

  app.addHook('onRequest', async (request) => {
    request.tokenRequest = { receivedAt: deps.clock.now() };
  });

  app.addHook('onSend', async (request, reply, payload) => {
    if (request.method === 'POST' && request.tokenRequest) {
      try {
        recordRequest(request, reply, deps);
      } catch (error) {
        // The response is already decided; a failure to log it must not change it.
        request.log.error({ err: error }, 'request log entry could not be recorded');
      }
    }
    return payload;
  });

  app.post(TOKEN_PATH, async (request, reply) => {
    const state = request.tokenRequest ?? { receivedAt: deps.clock.now() };
    const parameters = readFormParameters(request);
    state.parameters = parameters;
    state.claimedClient = claimedClient(request.headers.authorization, parameters);

    // RFC 6749 §3.2 / §5.2: a missing grant_type is invalid_request; an unknown one is
    // unsupported_grant_type, decided after the client has authenticated.
    const grantType = parameters.one('grant_type');
    if (grantType === undefined)
      throw new InvalidRequestError('missing required parameter grant_type');

    const client = authenticateClient(request.headers.authorization, parameters, deps.clients);
    state.client = client;

    const grant = deps.grants.get(grantType);
    if (!grant) {
      throw new UnsupportedGrantTypeError('unsupported grant_type', {
        detail: `grant_type ${JSON.stringify(truncate(grantType))} is not one of ${deps.grants.grantTypes().join(', ')}`,
      });
    }

    const issuer = resolveIssuer(request, deps.config);
    const result = await grant.handle({ parameters, client, issuer, server: deps });
    state.grantedScope = result.grantedScope;
    state.verifiedInputs = result.verifiedInputs;
    state.issuedToken = { value: result.response.access_token, type: result.issuedTokenType };
    return reply.code(200).type('application/json; charset=utf-8').send(result.response);
  });
}

function recordRequest(request: FastifyRequest, reply: FastifyReply, deps: ServerContext): void {
  const state = request.tokenRequest;
  if (!state) return;
  const error = request.oauthError;
  if (error instanceof OAuthError) {
    state.error = new OAuthError(
      error.error,
      error.statusCode,
      sanitizeErrorText(error.description),
      {
        ...(error.detail !== undefined && { detail: error.detail }),
      },
    );
  }
  const entry = buildEntry(request.id, reply.statusCode, state, {
    includeTokens: deps.config.requestLog.unsafeIncludeTokens,
    maxTargets: deps.config.maxTargets,
  });
  deps.requestLog.add(entry);
}
