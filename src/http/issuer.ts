import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';

/**
 * Returns the issuer identifier for a request: the configured `issuer`, or else the origin the
 * client used, from the `Host` header, so that `http://localhost:9999` and
 * `http://127.0.0.1:9999` each discover a consistent issuer. `X-Forwarded-Proto` and
 * `X-Forwarded-Host` count only with `trustProxy`.
 */
export function resolveIssuer(request: FastifyRequest, config: Config): string {
  if (config.issuer !== undefined) return config.issuer;
  const forwardedProto = config.trustProxy
    ? firstValue(request.headers['x-forwarded-proto'])
    : undefined;
  const forwardedHost = config.trustProxy
    ? firstValue(request.headers['x-forwarded-host'])
    : undefined;
  const protocol =
    forwardedProto === 'https' ? 'https' : forwardedProto === 'http' ? 'http' : 'http';
  const host = forwardedHost ?? request.headers.host ?? `${config.host}:${config.port}`;
  return `${protocol}://${host}`;
}

/** Takes the first of comma-separated header values, as proxies append theirs. */
function firstValue(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const first = value?.split(',')[0]?.trim();
  return first === '' ? undefined : first;
}

/**
 * Joins the issuer and an endpoint path. An issuer with a path (`http://h/t`) gets the endpoint
 * below that path (`http://h/t/oauth2/token`).
 */
export function endpointUrl(issuer: string, path: string): string {
  return `${issuer.replace(/\/$/, '')}${path}`;
}
