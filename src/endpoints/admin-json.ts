import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { ControlInputError } from '../control/input.js';
import { InvalidRequestError } from '../errors.js';
import { truncate } from '../grants/targets.js';

/**
 * Adds a hook that rejects a request body that is not `application/json`. It runs before the
 * body is parsed, so that a form or text body gets a precise error instead of Fastify's
 * unsupported media type error. Requests without a body pass, whatever their `Content-Type`, so
 * `curl -X POST` works on routes whose body is optional. A zero-length body of any type, such as
 * an empty `application/json` body or an empty chunked body, is parsed to `undefined` as if the
 * request had no body.
 *
 * With `keepProtoMembers`, a member named `__proto__` is kept as JSON.parse keeps it, as an own
 * member, where Fastify's parser rejects the body as prototype poisoning. Only a route whose
 * schema never assigns such a member to an object may ask for it.
 */
export function requireJsonBodies(
  app: FastifyInstance,
  { keepProtoMembers = false }: { keepProtoMembers?: boolean } = {},
): void {
  parseEmptyBodiesAsAbsent(app, keepProtoMembers);
  app.addHook('onRequest', (request, _reply, done) => {
    const contentType = request.headers['content-type'];
    if (isJsonContentType(contentType)) return done();
    const length = request.headers['content-length'];
    if (
      request.headers['transfer-encoding'] !== undefined ||
      length === undefined ||
      length === '0'
    ) {
      // The body is absent, or chunked and so of unknown length until read. Without a
      // Content-Type, Fastify skips parsing an absent body, and a chunked one goes to the
      // catch-all parser below, which accepts only an empty body. A malformed Content-Type
      // would otherwise fail before either.
      delete request.headers['content-type'];
      return done();
    }
    done(
      new InvalidRequestError('request body must be application/json', {
        detail: `Content-Type was ${contentType === undefined ? 'missing' : JSON.stringify(truncate(contentType))}`,
      }),
    );
  });
}

/**
 * Replaces the body parsers of the calling plugin scope so that a zero-length body parses to
 * `undefined` whatever its `Content-Type`, and the route treats it as a request without a body.
 * Fastify's own parsers reject such a body: `FST_ERR_CTP_EMPTY_JSON_BODY` for JSON, and the
 * unsupported media type error for a type without a parser. A non-empty JSON body must be UTF-8
 * (RFC 8259 §8.1) and goes to Fastify's JSON parser with the server's prototype poisoning
 * settings.
 */
function parseEmptyBodiesAsAbsent(app: FastifyInstance, keepProtoMembers: boolean): void {
  const parseJson = keepProtoMembers
    ? app.getDefaultJsonParser('ignore', 'ignore')
    : app.getDefaultJsonParser(
        app.initialConfig.onProtoPoisoning ?? 'error',
        app.initialConfig.onConstructorPoisoning ?? 'error',
      );
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    if (bytes.length === 0) {
      done(null, undefined);
      return;
    }
    if (!isUtf8(bytes)) {
      done(new InvalidRequestError('request body is not valid UTF-8'), undefined);
      return;
    }
    parseJson(request, bytes.toString('utf8'), done);
  });
  // The onRequest hook rejects every non-empty body of another type that declares its length,
  // and passes a chunked one here without its Content-Type.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    done(new InvalidRequestError('request body must be application/json'), undefined);
  });
}

/**
 * Returns the parsed JSON body as an object, or an empty object when the request had none.
 * @throws InvalidRequestError when the body is JSON but not an object.
 */
export function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/**
 * Runs a control operation, turning its input errors into 400 `invalid_request`.
 * @throws InvalidRequestError carrying the message of a ControlInputError.
 */
export function runControl<T>(operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    if (error instanceof ControlInputError) throw new InvalidRequestError(error.message);
    throw error;
  }
}

/** Returns true when a `Content-Type` header names `application/json`, parameters ignored. */
function isJsonContentType(contentType: string | undefined): boolean {
  const mediaType = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  return mediaType === 'application/json';
}
