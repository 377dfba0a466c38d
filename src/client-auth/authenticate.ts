import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidClientError, InvalidRequestError } from '../errors.js';
import { type FormParameters, tryDecodeFormComponent } from '../http/form.js';
import { checkAuthMethod } from './client-policy.js';
import type { ClientRegistry } from './clients.js';

/**
 * Client authentication methods that {@link authenticateClient} accepts, named as in the
 * RFC 7591 registry; discovery metadata lists them as `token_endpoint_auth_methods_supported`.
 */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none'] as const;

export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/**
 * Encoding in which the credentials of a Basic header arrived. RFC 6749 §2.3.1 requires the client id
 * and secret to be form-urlencoded before base64, but several client libraries send them unencoded.
 * `plain` means both readings are identical, so the form is unknown.
 */
export type BasicCredentialEncoding = 'form-urlencoded' | 'raw' | 'plain';

export interface AuthenticatedClient {
  clientId: string;
  method: ClientAuthMethod;
  /** Set for `client_secret_basic` only. */
  basicEncoding?: BasicCredentialEncoding;
}

/** Client identity gathered before authentication, for the request log. */
export interface ClaimedClient {
  clientId: string | undefined;
  method: ClientAuthMethod | undefined;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Authenticates the client of a token request by one of `client_secret_basic`,
 * `client_secret_post` or `none` (a `client_id` alone), then checks that the client's
 * `authMethods` allow the method it used.
 * @throws InvalidRequestError when the request uses more than one method (RFC 6749 §2.3).
 * @throws InvalidClientError when authentication fails or is missing, or the method is not
 * allowed.
 */
export function authenticateClient(
  authorization: string | undefined,
  parameters: FormParameters,
  registry: ClientRegistry,
): AuthenticatedClient {
  const client = verifyCredentials(authorization, parameters, registry);
  // Checked after the credentials, so that only a client that proved its secret learns which
  // methods it may use.
  checkAuthMethod(registry, client.clientId, client.method);
  return client;
}

function verifyCredentials(
  authorization: string | undefined,
  parameters: FormParameters,
  registry: ClientRegistry,
): AuthenticatedClient {
  const bodyClientId = parameters.one('client_id');
  const bodySecret = parameters.one('client_secret');

  if (parameters.has('client_assertion') || parameters.has('client_assertion_type')) {
    if (authorization !== undefined || bodySecret !== undefined) throw multipleMethods();
    throw new InvalidClientError('client_assertion authentication is not supported', {
      detail: 'private_key_jwt and client_secret_jwt are not implemented',
    });
  }

  if (authorization !== undefined) {
    // RFC 6749 §2.3: a client must not use more than one authentication method per request.
    if (bodySecret !== undefined) throw multipleMethods();
    return authenticateBasic(authorization, bodyClientId, registry);
  }

  if (bodySecret !== undefined) {
    if (bodyClientId === undefined) {
      throw new InvalidRequestError('client_secret requires client_id');
    }
    return authenticateSecret(bodyClientId, bodySecret, 'client_secret_post', registry);
  }

  if (bodyClientId !== undefined) return authenticatePublic(bodyClientId, registry);

  throw new InvalidClientError('client authentication is required', {
    detail: 'the request has no Authorization header and no client_id',
  });
}

/**
 * Returns the client id and method a request claims, without verifying anything, so that a
 * failed request can still be logged under its client.
 */
export function claimedClient(
  authorization: string | undefined,
  parameters: FormParameters,
): ClaimedClient {
  const basic = authorization === undefined ? undefined : parseBasic(authorization);
  if (basic) {
    const clientId = tryDecodeFormComponent(basic.rawId) ?? basic.rawId;
    return { clientId, method: 'client_secret_basic' };
  }
  const clientId = parameters.all('client_id')[0];
  if (clientId === undefined) return { clientId: undefined, method: undefined };
  const method = parameters.has('client_secret') ? 'client_secret_post' : 'none';
  return { clientId, method };
}

function authenticateBasic(
  authorization: string,
  bodyClientId: string | undefined,
  registry: ClientRegistry,
): AuthenticatedClient {
  const credentials = parseBasic(authorization);
  if (!credentials) {
    throw new InvalidClientError('malformed Basic credentials', {
      detail: 'the Authorization header is not "Basic" followed by base64 of id:secret',
    });
  }

  const readings = credentialReadings(credentials.rawId, credentials.rawSecret);
  const first = readings[0];
  if (!first) {
    throw new InvalidClientError('malformed Basic credentials', {
      detail: 'the Basic client id is empty',
    });
  }

  // A client_id in the body alongside Basic only identifies the client, so it must name the
  // same one. When the two readings name different clients, it selects the reading to verify.
  const named =
    bodyClientId === undefined ? readings : readings.filter((r) => r.clientId === bodyClientId);
  const chosen = named[0];
  if (!chosen) {
    throw new InvalidRequestError('client_id does not match the Basic credentials');
  }

  if (registry.isOpen) {
    return {
      clientId: chosen.clientId,
      method: 'client_secret_basic',
      basicEncoding: chosen.encoding,
    };
  }

  const reasons: string[] = [];
  for (const reading of named) {
    const reason = verifySecret(reading.clientId, reading.secret, registry);
    if (reason === undefined) {
      return {
        clientId: reading.clientId,
        method: 'client_secret_basic',
        basicEncoding: reading.encoding,
      };
    }
    reasons.push(`${reading.encoding} reading: ${reason}`);
  }
  throw authenticationFailed(reasons.join('; '));
}

interface CredentialReading {
  clientId: string;
  secret: string;
  encoding: BasicCredentialEncoding;
}

/**
 * Lists the ways to read Basic credentials: form-decoded first, as RFC 6749 §2.3.1 specifies, then
 * as sent. A reading with an empty client id or a malformed escape is left out.
 */
function credentialReadings(rawId: string, rawSecret: string): CredentialReading[] {
  const decodedId = tryDecodeFormComponent(rawId);
  const decodedSecret = tryDecodeFormComponent(rawSecret);
  const readings: CredentialReading[] = [];

  if (decodedId === rawId && decodedSecret === rawSecret) {
    if (rawId !== '') readings.push({ clientId: rawId, secret: rawSecret, encoding: 'plain' });
    return readings;
  }
  if (decodedId !== undefined && decodedSecret !== undefined && decodedId !== '') {
    readings.push({ clientId: decodedId, secret: decodedSecret, encoding: 'form-urlencoded' });
  }
  if (rawId !== '') readings.push({ clientId: rawId, secret: rawSecret, encoding: 'raw' });
  return readings;
}

function authenticateSecret(
  clientId: string,
  secret: string,
  method: ClientAuthMethod,
  registry: ClientRegistry,
): AuthenticatedClient {
  if (!registry.isOpen) {
    const reason = verifySecret(clientId, secret, registry);
    if (reason !== undefined) throw authenticationFailed(reason);
  }
  return { clientId, method };
}

function authenticatePublic(clientId: string, registry: ClientRegistry): AuthenticatedClient {
  if (!registry.isOpen) {
    const client = registry.find(clientId);
    if (!client) throw authenticationFailed(`client ${JSON.stringify(clientId)} is not registered`);
    if (client.clientSecret !== undefined) {
      throw authenticationFailed(
        `client ${JSON.stringify(clientId)} is confidential and sent no secret`,
      );
    }
  }
  return { clientId, method: 'none' };
}

/** Checks a secret against the registry; returns the reason for a failure, or `undefined`. */
function verifySecret(clientId: string, secret: string, registry: ClientRegistry) {
  const client = registry.find(clientId);
  const quotedId = JSON.stringify(clientId);
  if (!client) return `client ${quotedId} is not registered`;
  if (client.clientSecret === undefined) {
    return `client ${quotedId} is public and must not send a secret`;
  }
  if (!secretsEqual(secret, client.clientSecret)) return `secret does not match for ${quotedId}`;
  return undefined;
}

/**
 * Compares two secrets in constant time. Both are hashed first, because `timingSafeEqual`
 * needs inputs of equal length and the length of the stored secret must not leak either.
 */
export function secretsEqual(received: string, expected: string): boolean {
  const a = createHash('sha256').update(received, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

interface BasicCredentials {
  rawId: string;
  rawSecret: string;
}

/**
 * Splits a Basic `Authorization` value into its two halves, still form-encoded. The scheme is
 * case-insensitive (RFC 9110 §11.1); the value is split at the first colon (RFC 7617 §2).
 */
function parseBasic(authorization: string): BasicCredentials | undefined {
  const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) +(\S+) *$/.exec(authorization);
  if (match?.[1]?.toLowerCase() !== 'basic') return undefined;
  const encoded = match[2] ?? '';
  if (!BASE64.test(encoded) || encoded.length % 4 === 1) return undefined;

  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(encoded, 'base64'));
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { rawId: decoded.slice(0, colon), rawSecret: decoded.slice(colon + 1) };
}

function multipleMethods(): InvalidRequestError {
  return new InvalidRequestError('the client used more than one authentication method', {
    detail: 'send credentials in the Authorization header or in the body, not both',
  });
}

function authenticationFailed(detail: string): InvalidClientError {
  return new InvalidClientError('client authentication failed', { detail });
}
