import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { InvalidRequestError } from '../errors.js';

/**
 * RFC 9110 §7.2 `Host`: a registered name or IPv4 address, or an IPv6 literal in brackets, with
 * an optional port. Percent-encoded names and sub-delimiters are legal there but are rejected,
 * because the value becomes part of URLs that clients compare exactly.
 */
const HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/**
 * Characters allowed in the path of a configured issuer: RFC 3986 `pchar` without
 * percent-encoding and without `*`, because the path becomes part of route paths.
 */
const ISSUER_PATH = /^(?:\/[A-Za-z0-9._~!$&'()+,;=:@-]*)*$/;

/**
 * Returns the issuer identifier for a request: the configured `issuer`, or else the origin the
 * client used (see {@link requestOrigin}), so that `http://localhost:9999` and
 * `http://127.0.0.1:9999` each discover a consistent issuer.
 * @throws InvalidRequestError when no issuer is configured and the origin headers are invalid.
 */
export function resolveIssuer(request: FastifyRequest, config: Config): string {
  return config.issuer ?? requestOrigin(request, config);
}

/**
 * Returns the origin (`scheme://host[:port]`) the client used to reach the server: from the
 * `Host` header, or with `trustProxy` from `X-Forwarded-Proto` and `X-Forwarded-Host` when they
 * are sent. A request without `Host` (HTTP/1.0) gets the address of the socket it arrived on.
 * @throws InvalidRequestError when one of these headers has an invalid value.
 */
export function requestOrigin(request: FastifyRequest, config: Config): string {
  const forwardedProto = config.trustProxy
    ? firstValue(request.headers['x-forwarded-proto'])
    : undefined;
  const forwardedHost = config.trustProxy
    ? firstValue(request.headers['x-forwarded-host'])
    : undefined;

  // RFC 3986 §3.1: schemes are case-insensitive.
  const protocol = forwardedProto?.toLowerCase() ?? 'http';
  if (protocol !== 'http' && protocol !== 'https') {
    throw new InvalidRequestError('X-Forwarded-Proto must be http or https');
  }

  if (forwardedHost !== undefined) {
    if (!HOST.test(forwardedHost)) throw new InvalidRequestError('invalid X-Forwarded-Host header');
    return `${protocol}://${forwardedHost}`;
  }
  const host = request.headers.host;
  if (host === undefined || host === '') return `${protocol}://${socketHost(request)}`;
  if (!HOST.test(host)) throw new InvalidRequestError('invalid Host header');
  return `${protocol}://${host}`;
}

/** Formats the local address and port of the request's connection as a URL authority. */
function socketHost(request: FastifyRequest): string {
  const { localAddress = '127.0.0.1', localPort } = request.socket;
  const address = localAddress.includes(':') ? `[${localAddress}]` : localAddress;
  return localPort === undefined ? address : `${address}:${localPort}`;
}

/** Takes the first of comma-separated header values, as proxies append theirs. */
function firstValue(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const first = value?.split(',')[0]?.trim();
  return first === '' ? undefined : first;
}

/**
 * Returns the path of an issuer identifier without its terminating `/`, as RFC 8414 §3.1 builds
 * well-known URLs: `/t` for `http://h/t/`, and `''` for `http://h` or `http://h/`.
 */
export function issuerPath(issuer: string): string {
  return new URL(issuer).pathname.replace(/\/$/, '');
}

/**
 * Checks that a configured issuer's path is written in normalized form with only the
 * characters of {@link ISSUER_PATH}. Returns the problem, or `undefined` when the path is usable.
 * Clients build well-known URLs from the issuer string, so a path that a URL parser rewrites
 * (`/a/../b`, `/a b`) would name a document the server does not serve.
 */
export function issuerPathProblem(issuer: string): string | undefined {
  const written = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(\/[^?#]*)?$/.exec(issuer)?.[1] ?? '';
  if (!ISSUER_PATH.test(written)) {
    return "path may contain only letters, digits, / and the characters - . _ ~ ! $ & ' ( ) + , ; = : @";
  }
  // An issuer that is not a URL at all is reported by the URL check instead.
  if (!URL.canParse(issuer)) return undefined;
  if (written !== '' && new URL(issuer).pathname !== written) {
    return 'path must be in normalized form, without . or .. segments';
  }
  // The discovery documents of a path issuer are served below /.well-known itself.
  if (/^\/\.well-known(\/|$)/.test(written)) return 'path must not start with /.well-known';
  return undefined;
}
