import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InvalidRequestError } from '../errors.js';
import { truncate } from '../grants/targets.js';
import { type FormParameters, isFormContentType, parseForm } from './form.js';

/**
 * Makes every request body in the calling plugin scope arrive as raw bytes, whatever its
 * `Content-Type`, so that the endpoint alone decides how to parse it. Call it inside the plugin
 * function of an endpoint; Fastify's encapsulation keeps the change to that plugin.
 */
export function acceptRawBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
}

/**
 * Reads the form parameters of a request to an OAuth endpoint that takes an
 * `application/x-www-form-urlencoded` body (token, introspection, revocation). The URL's query is
 * never read for parameters, but client credentials in it are rejected (RFC 6749 §2.3.1).
 * @throws InvalidRequestError when the body is not form-encoded, is malformed, or the query
 * carries a `client_secret`.
 */
export function readFormParameters(request: FastifyRequest): FormParameters {
  const queryStart = request.url.indexOf('?');
  const query = queryStart === -1 ? null : new URLSearchParams(request.url.slice(queryStart + 1));
  if (query?.has('client_secret')) {
    throw new InvalidRequestError('client credentials must not be sent in the URL query');
  }

  const contentType = request.headers['content-type'];
  if (!isFormContentType(contentType)) {
    throw new InvalidRequestError('request body must be application/x-www-form-urlencoded', {
      detail: `Content-Type was ${contentType === undefined ? 'missing' : JSON.stringify(truncate(contentType))}`,
    });
  }
  const body = request.body;
  return parseForm(Buffer.isBuffer(body) ? body : Buffer.alloc(0));
}

/**
 * Returns the single value of a required parameter.
 * @throws InvalidRequestError when the parameter is missing or repeated (RFC 6749 §3.2).
 */
export function requiredParameter(parameters: FormParameters, name: string): string {
  const value = parameters.one(name);
  if (value === undefined) throw new InvalidRequestError(`missing required parameter ${name}`);
  return value;
}
