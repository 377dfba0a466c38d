import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateClient, claimedClient } from '../client-auth/authenticate.js';
import { checkGrantType } from '../client-auth/client-policy.js';
import type { ServerContext } from '../context.js';
import { InvalidRequestError, OAuthError, UnsupportedGrantTypeError } from '../errors.js';
import { truncate } from '../grants/targets.js';
import { sanitizeErrorText } from '../http/error-handler.js';
import type { FormParameters } from '../http/form.js';
import { acceptRawBodies, readFormParameters } from '../http/form-request.js';
import { resolveIssuer } from '../http/issuer.js';
import {
  buildEntry,
  captureRequest,
  countedExchange,
  type EntryOptions,
  type TokenRequestState,
} from '../request-log/record.js';
import {
  issueOverrides,
  modifyResponse,
  type RuleEffect,
  runRuleAction,
} from '../rules/actions.js';
import { matches, type RequestFacts, requestFacts } from '../rules/match.js';
import { withIssueOverrides } from '../tokens/issue.js';

export const TOKEN_PATH = '/oauth2/token';

/** The outcome of checking the rules when none fired. */
const NO_EFFECT: RuleEffect = { done: false };

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
  const recording: Recording = {
    deps,
    options: {
      includeTokens: deps.config.requestLog.unsafeIncludeTokens,
      maxTargets: deps.config.maxTargets,
    },
    log: app.log,
  };

  // Requests that a `hang` or `delay` rule keeps open would keep server.close() waiting until their
  // clients give up or the delay ends.
  const hanging = new Set<Socket>();
  const closing = new AbortController();
  app.addHook('preClose', async () => {
    closing.abort();
    for (const socket of hanging) socket.destroy();
  });

  /**
   * Runs the first rule that matches the request, if any. Rules are checked once the body is
   * parsed, so a malformed body gets its usual error. They are checked before client
   * authentication, so a rule can also fail a request whose client would pass.
   */
  function applyRules(
    request: FastifyRequest,
    reply: FastifyReply,
    parameters: FormParameters,
  ): RuleEffect | Promise<RuleEffect> {
    let facts: RequestFacts | undefined;
    const rule = deps.rules.fire((candidate) => {
      facts ??= requestFacts(request.headers, parameters);
      return matches(candidate, facts);
    });
    if (!rule) return NO_EFFECT;
    const state = request.tokenRequest;
    if (state) state.rule = rule.id;
    return runRuleAction(rule, request, reply, {
      hanging,
      closing: closing.signal,
      recordUnanswered: (detail) => {
        if (state) state.unanswered = detail;
        recordRequest(request, 0, recording);
      },
    });
  }

  // Both hooks take a callback rather than return a promise, which spares each token request two
  // promises and two microtask turns.
  app.addHook('onRequest', (request, _reply, done) => {
    request.tokenRequest = { receivedAt: deps.clock.now() };
    done();
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    if (request.method === 'POST' && request.tokenRequest) {
      try {
        recordRequest(request, reply.statusCode, recording);
      } catch (error) {
        // The response is already decided; a failure to log it must not change it.
        request.log.error({ err: error }, 'request log entry could not be recorded');
      }
    }
    done(null, payload);
  });

  app.post(TOKEN_PATH, async (request, reply) => {
    const state = request.tokenRequest ?? { receivedAt: deps.clock.now() };
    const parameters = readFormParameters(request);
    state.parameters = parameters;
    state.claimedClient = claimedClient(request.headers.authorization, parameters);

    const pending = applyRules(request, reply, parameters);
    const effect = pending instanceof Promise ? await pending : pending;
    if (effect.done) return reply;
    const modify = effect.modify;

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
    // RFC 6749 §5.2: a grant type the client is not authorized to use is unauthorized_client.
    checkGrantType(deps.clients, client.clientId, grantType);

    const issuer = resolveIssuer(request, deps.config);
    const result = await withIssueOverrides(issueOverrides(modify), () =>
      grant.handle({ parameters, client, issuer, server: deps }),
    );
    state.grantedScope = result.grantedScope;
    state.verifiedInputs = result.verifiedInputs;
    state.issuedToken = { value: result.response.access_token, type: result.issuedTokenType };
    const body = modify ? modifyResponse(result.response, modify) : result.response;
    return reply.code(200).type('application/json; charset=utf-8').send(body);
  });
}

/** The endpoint's dependencies for recording a token request. */
interface Recording {
  deps: ServerContext;
  options: EntryOptions;
  /** The server log. A request's own logger would keep the request alive in the log entry. */
  log: FastifyBaseLogger;
}

/** Adds the request to the request log; `statusCode` is 0 for a request that got no response. */
function recordRequest(
  request: FastifyRequest,
  statusCode: number,
  { deps, options, log }: Recording,
): void {
  const state = request.tokenRequest;
  // A reply that fails while being sent goes through the error handler and onSend again; the
  // request is still one entry, recorded the first time.
  if (!state || state.recorded) return;
  state.recorded = true;
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
  const captured = captureRequest(request.id, statusCode, state, options);
  // The entry is built when the log is read, not on the request's path, because most entries
  // are evicted unread under load and decoding and fingerprinting tokens is much of their cost.
  deps.requestLog.add(() => {
    try {
      return buildEntry(captured, options);
    } catch (error) {
      log.error({ err: error, reqId: captured.id }, 'request log entry could not be built');
      throw error;
    }
  });
  const counted = countedExchange(captured);
  if (counted) deps.counters.record(counted);
}
