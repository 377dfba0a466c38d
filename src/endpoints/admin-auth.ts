import type { FastifyRequest } from 'fastify';
import { secretsEqual } from '../client-auth/authenticate.js';
import { InvalidTokenError } from '../errors.js';

/**
 * Builds a hook that requires `Authorization: Bearer <adminToken>` (RFC 6750 §2.1) when an
 * admin token is configured, and lets every request through when none is.
 */
export function requireAdminToken(adminToken: string | undefined) {
  return async (request: FastifyRequest): Promise<void> => {
    if (adminToken === undefined) return;
    const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '');
    if (!match) {
      throw new InvalidTokenError('the admin token is required as a Bearer token', {
        detail: 'the request has no Authorization: Bearer header',
      });
    }
    if (!secretsEqual(match[1] ?? '', adminToken)) {
      throw new InvalidTokenError('the admin token is not valid', {
        detail: 'the Bearer token does not match the configured admin token',
      });
    }
  };
}
