import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  InvalidRequestError,
  MethodNotAllowedError,
  MissingBearerTokenError,
  NotFoundError,
  OAuthError,
  ServerError,
} from '../errors.js';
import { truncate } from '../grants/targets.js';

/**
 * Replaces every character that RFC 6749 §5.2 forbids in `error` and `error_description`
 * (anything outside %x20-21 / %x23-5B / %x5D-7E) with `?`.
 */
export function sanitizeErrorText(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '?');
}

/** Builds the WWW-Authenticate challenge for an error that needs one, or `undefined`. */
function challengeFor(error: OAuthError, realm: string): string | undefined {
  if (error.statusCode !== 401) return undefined;
  if (error instanceof MissingBearerTokenError) {
    // RFC 6750 §3.1: a request without credentials gets a challenge without error information.
    return `Bearer realm="${realm}"`;
  }
  if (error.error === 'invalid_token') {
    // RFC 6750 §3: the Bearer challenge names the error.
    return `Bearer realm="${realm}", error="invalid_token"`;
  }
  return `Basic realm="${realm}", charset="UTF-8"`;
}

/**
 * Converts anything thrown while handling a request into an OAuth error. Errors from Fastify
 * itself (body too large, unparsable body) keep their 4xx status as `invalid_request`;
 * anything else becomes a `server_error`.
 */
export function toOAuthError(error: unknown, bodyLimit: number): OAuthError {
  if (error instanceof OAuthError) return error;
  const fastifyError = error as Partial<FastifyError>;
  const status = fastifyError.statusCode;
  if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    // An empty or unparsable Content-Type. RFC 6749 §5.2 responds to malformed requests with 400.
    return new InvalidRequestError('request body must be application/x-www-form-urlencoded', {
      detail: fastifyError.message,
      cause: error,
    });
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new OAuthError('invalid_request', status, describeClientError(fastifyError, bodyLimit), {
      detail: fastifyError.message,
      cause: error,
    });
  }
  return new ServerError({ cause: error, detail: (error as Error)?.message });
}

function describeClientError(error: Partial<FastifyError>, bodyLimit: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body exceeds ${bodyLimit} bytes`;
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'request body is not valid JSON';
    default:
      return 'malformed request';
  }
}

/** Sends an OAuth error as an RFC 6749 §5.2 JSON body with the headers the RFCs require. */
export function sendOAuthError(
  reply: FastifyReply,
  error: OAuthError,
  realm: string,
): FastifyReply {
  const challenge = challengeFor(error, realm);
  reply.code(error.statusCode);
  // Set here as well as in the onSend hook, because replies to framework errors skip hooks.
  reply.header('cache-control', 'no-store');
  reply.header('pragma', 'no-cache');
  reply.headers(error.headers);
  if (challenge !== undefined && !reply.hasHeader('www-authenticate')) {
    reply.header('www-authenticate', challenge);
  }
  reply.type('application/json; charset=utf-8');
  return reply.send({
    error: sanitizeErrorText(error.error),
    error_description: sanitizeErrorText(error.description),
  });
}

/**
 * Installs the one error handler and the not-found handler of the server. The error is kept
 * on the request so that the request log can record it. A known path requested with a method
 * it does not serve gets 405 with `Allow`, whatever the method.
 */
export function installErrorHandling(
  app: FastifyInstance,
  realm: string,
  bodyLimit: number,
  allowedMethods: ReadonlyMap<string, readonly string[]>,
): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const oauthError = toOAuthError(error, bodyLimit);
    request.oauthError = oauthError;
    if (oauthError instanceof ServerError) {
      request.log.error({ err: error }, 'request failed');
    } else if (oauthError.detail !== undefined) {
      request.log.debug({ error: oauthError.error, detail: oauthError.detail }, 'request rejected');
    }
    return sendOAuthError(reply, oauthError, realm);
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?', 1)[0] ?? '';
    const allowed = allowedMethods.get(path);
    const error = allowed
      ? new MethodNotAllowedError(allowed)
      : new NotFoundError(`no route for ${request.method} ${truncate(path, 100)}`);
    return sendOAuthError(reply, error, realm);
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The error the request failed with, set by the error handler. */
    oauthError?: OAuthError;
  }
}

/** Status, reason phrase and description for errors of Node's HTTP parser, by error code. */
const PARSER_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'request headers are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'request timed out'],
};

/**
 * Builds the raw HTTP response for a request that Node's HTTP parser rejected, such as a
 * request line with bytes that are not allowed. It has the same JSON shape and headers as every
 * other error, and closes the connection because the stream can no longer be trusted.
 */
export function rawClientErrorResponse(code: string | undefined): string {
  const known = code === undefined ? undefined : PARSER_ERRORS[code];
  const [status, reason, description] = known ?? [400, 'Bad Request', 'malformed HTTP request'];
  const body = JSON.stringify({ error: 'invalid_request', error_description: description });
  return [
    `HTTP/1.1 ${status} ${reason}`,
    'content-type: application/json; charset=utf-8',
    'cache-control: no-store',
    'pragma: no-cache',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    '',
    body,
  ].join('\r\n');
}
