import type { ClientConfig } from '../config/schema.js';
import { InvalidClientError, UnauthorizedClientError } from '../errors.js';
import { truncate } from '../grants/targets.js';
import type { ClientAuthMethod } from './authenticate.js';
import type { ClientRegistry } from './clients.js';

/** Tells whether a client is public (RFC 6749 §2.1): by `public`, or else by having no secret. */
export function isPublicClient(client: ClientConfig): boolean {
  return client.public ?? client.clientSecret === undefined;
}

/**
 * Lists the authentication methods a client may use: its `authMethods`, or else both secret
 * methods for a confidential client and `none` for a public one.
 */
export function allowedAuthMethods(client: ClientConfig): readonly ClientAuthMethod[] {
  if (client.authMethods) return client.authMethods;
  return isPublicClient(client) ? ['none'] : ['client_secret_basic', 'client_secret_post'];
}

/**
 * Checks that an authenticated client used a method it is allowed. An open registry allows
 * every method.
 * @throws InvalidClientError naming the method used and the allowed ones in its detail.
 */
export function checkAuthMethod(
  registry: ClientRegistry,
  clientId: string,
  method: ClientAuthMethod,
): void {
  const client = registry.find(clientId);
  if (!client) return;
  const allowed = allowedAuthMethods(client);
  if (allowed.includes(method)) return;
  throw new InvalidClientError('the client authentication method is not allowed for this client', {
    detail: `client ${JSON.stringify(clientId)} used ${method}, but is allowed only ${allowed.join(', ')}`,
  });
}

/**
 * Checks that a client may use a grant type. A client without `grantTypes`, or any client of an
 * open registry, may use every grant type.
 * @throws UnauthorizedClientError (RFC 6749 §5.2) when the client's `grantTypes` leave it out.
 */
export function checkGrantType(
  registry: ClientRegistry,
  clientId: string,
  grantType: string,
): void {
  const allowed = registry.find(clientId)?.grantTypes as readonly string[] | undefined;
  if (allowed === undefined || allowed.includes(grantType)) return;
  throw new UnauthorizedClientError('the client is not allowed to use this grant_type', {
    detail: `client ${JSON.stringify(clientId)} may use only ${allowed.join(', ')}, not ${truncate(grantType)}`,
  });
}
