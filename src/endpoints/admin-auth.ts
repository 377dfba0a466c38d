import type { FastifyRequest } from 'fastify';
import { secretsEqual } from '../client-auth/authenticate.js';
import { InvalidTokenError, MissingBearerTokenError } from '../errors.js';

/**
 * Builds a hook that requires `Authorization: Bearer <adminToken>` (RFC 6750 §2.1) when an
 * admin token is configured, and lets every request through when none is.
 */
export function requireAdminToken(adminToken: string | undefined) {
  return async (request: FastifyRequest): Promise<void> => {
    if (adminToken === undefined) return;
    const authorization = request.headers.authorization ?? '';
    // RFC 9110 §11.4: credentials start with the auth scheme, which §11.1 makes
    // case-insensitive.
    const scheme = authorization.trim().split(/\s/, 1)[0] ?? '';
    if (scheme.toLowerCase() !== 'bearer') {
      // The scheme is not logged, because a header without a scheme starts with the secret.
      throw new MissingBearerTokenError('the admin token is required as a Bearer token', {
        detail:
          authorization.trim() === ''
            ? 'the Authorization header is missing or empty'
            : 'the Authorization header does not use the Bearer scheme',
      });
    }
    // Node.js keeps only the first of repeated Authorization headers in `request.headers`, so
    // a second credential would go unseen. RFC 6750 §3.1 counts more than one as malformed.
    if (countHeaders(request.raw.rawHeaders, 'authorization') > 1) {
      throw new InvalidTokenError('the admin token is required as a Bearer token', {
        detail: 'the request has more than one Authorization header',
      });
    }
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!match) {
      throw new InvalidTokenError('the admin token is required as a Bearer token', {
        detail: 'the Authorization: Bearer header does not carry exactly one token',
      });
    }
    if (!secretsEqual(match[1] ?? '', adminToken)) {
      throw new InvalidTokenError('the admin token is not valid', {
        detail: 'the Bearer token does not match the configured admin token',
      });
    }
  };
}

/** Counts the header lines named `name` (lowercase) in Node.js's raw name and value list. */
function countHeaders(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index]?.toLowerCase() === name) count += 1;
  }
  return count;
}
