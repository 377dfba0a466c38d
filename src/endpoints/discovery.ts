import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CLIENT_AUTH_METHODS } from '../client-auth/authenticate.js';
import type { ServerContext } from '../context.js';
import { issuerPath, requestOrigin, resolveIssuer } from '../http/issuer.js';

export const OAUTH_METADATA_PATH = '/.well-known/oauth-authorization-server';
export const OPENID_CONFIGURATION_PATH = '/.well-known/openid-configuration';

/** Algorithm that OpenID Connect Discovery 1.0 §3 requires in `id_token_signing_alg_values_supported`. */
const REQUIRED_ID_TOKEN_ALGORITHM = 'RS256';

/** Endpoints that authenticate clients, each with its RFC 8414 §2 `*_auth_methods_supported` member. */
const AUTH_METHODS_MEMBERS: ReadonlyMap<string, string> = new Map([
  ['token_endpoint', 'token_endpoint_auth_methods_supported'],
  ['introspection_endpoint', 'introspection_endpoint_auth_methods_supported'],
  ['revocation_endpoint', 'revocation_endpoint_auth_methods_supported'],
]);

/** Paths that serve the RFC 8414 document and the OpenID Connect discovery document. */
export interface MetadataPaths {
  oauth: string[];
  openid: string[];
}

/**
 * Lists the paths of the metadata documents for a configured issuer. The host-level paths are
 * always served. An issuer with a path (`http://h/t`) adds the RFC 8414 §3.1 form
 * `/.well-known/oauth-authorization-server/t`, the OpenID Connect Discovery 1.0 §4 form
 * `/t/.well-known/openid-configuration`, and `/.well-known/openid-configuration/t`, the RFC 8414
 * form that some clients also try for OpenID Connect.
 */
export function metadataPaths(issuer: string | undefined): MetadataPaths {
  const path = issuer === undefined ? '' : issuerPath(issuer);
  if (path === '') return { oauth: [OAUTH_METADATA_PATH], openid: [OPENID_CONFIGURATION_PATH] };
  return {
    oauth: [OAUTH_METADATA_PATH, `${OAUTH_METADATA_PATH}${path}`],
    openid: [
      OPENID_CONFIGURATION_PATH,
      `${path}${OPENID_CONFIGURATION_PATH}`,
      `${OPENID_CONFIGURATION_PATH}${path}`,
    ],
  };
}

/**
 * Registers the authorization server metadata (RFC 8414) and OpenID Connect discovery
 * documents at the paths of {@link metadataPaths}.
 *
 * Both are built per request from the registries, so they list exactly what is mounted. The
 * issuer comes from {@link resolveIssuer}. Endpoint URLs are built from the origin the client
 * used, not from the issuer's path, because every endpoint is served at a fixed path on the
 * host whatever the issuer.
 */
export async function discoveryEndpoints(
  app: FastifyInstance,
  { server }: { server: ServerContext },
): Promise<void> {
  const paths = metadataPaths(server.config.issuer);
  for (const path of paths.oauth) {
    app.get(routePath(path), async (request) => oauthMetadata(request, server));
  }
  for (const path of paths.openid) {
    app.get(routePath(path), async (request) => openidMetadata(request, server));
  }
}

/** Escapes a literal path for Fastify's router, where `:` starts a parameter. */
function routePath(path: string): string {
  return path.replaceAll(':', '::');
}

/**
 * Builds the RFC 8414 §2 document. A member with no value is left out, except the required
 * `response_types_supported`.
 */
function oauthMetadata(request: FastifyRequest, server: ServerContext): Record<string, unknown> {
  const origin = requestOrigin(request, server.config);
  const metadata: Record<string, unknown> = { issuer: resolveIssuer(request, server.config) };
  const endpointNames: string[] = [];
  for (const [name, path] of server.endpoints.entries()) {
    metadata[name] = `${origin}${path}`;
    endpointNames.push(name);
  }

  // RFC 8414 §2 requires response_types_supported. The authorization endpoint rejects every
  // response type, so the honest value is an empty list.
  metadata.response_types_supported = [];
  const grantTypes = server.grants.grantTypes();
  if (grantTypes.length > 0) metadata.grant_types_supported = grantTypes;
  for (const name of endpointNames) {
    const member = AUTH_METHODS_MEMBERS.get(name);
    if (member !== undefined) metadata[member] = [...CLIENT_AUTH_METHODS];
  }
  return metadata;
}

/**
 * Builds the OpenID Connect Discovery 1.0 §3 document: the RFC 8414 members plus the ones
 * OpenID Connect requires. The server issues no ID tokens, but §3 requires
 * `id_token_signing_alg_values_supported` and RS256 in it, so that member lists RS256 followed
 * by the other algorithms of the server's keys.
 */
async function openidMetadata(
  request: FastifyRequest,
  server: ServerContext,
): Promise<Record<string, unknown>> {
  const metadata = oauthMetadata(request, server);
  const keys = await server.keys();
  const algorithms = new Set<string>([REQUIRED_ID_TOKEN_ALGORITHM]);
  for (const key of keys.publicJwks().keys) {
    if (key.alg !== undefined) algorithms.add(key.alg);
  }
  return {
    ...metadata,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [...algorithms],
  };
}
