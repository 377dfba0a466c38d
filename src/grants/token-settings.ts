import type { ServerContext } from '../context.js';
import { InvalidScopeError, InvalidTargetError } from '../errors.js';
import { expandClaimTemplates } from '../tokens/claim-templates.js';
import { truncate } from './targets.js';

/** The facts of a token request that the configured policy depends on. */
export interface TokenRequestFacts {
  clientId: string;
  /** Issuer identifier, the token's audience when the request names no target. */
  issuer: string;
  /** `sub` of the token to issue. */
  sub: string;
  /** Requested audiences, then resources. */
  targets: readonly string[];
  /** Requested scopes, empty when the request has no `scope`. */
  requestedScopes: readonly string[];
  /** Scopes of the subject token, or `undefined` when it has no usable `scope` claim. */
  subjectScopes?: readonly string[] | undefined;
  /** `exp` of the subject token, in seconds since the epoch, when it has one. */
  subjectExp?: number | undefined;
}

/** How a token is issued, as the configuration decides for one request. */
export interface TokenSettings {
  format: 'opaque' | 'jwt';
  /** Extra claims, with placeholders replaced. */
  claims: Record<string, unknown>;
  /** Lifetime in seconds. */
  lifetime: number;
  /** Granted scopes, empty for none. */
  scopes: string[];
}

/**
 * Decides the format, extra claims, lifetime and granted scopes of a token.
 *
 * - Format: the first target with settings, else the client's, else the global `tokenFormat`.
 * - Claims merge global, client and target claims, the more specific winning, and then have
 *   their placeholders replaced.
 * - Lifetime: the smallest `tokenTtl` among the targets, else the client's, else the global
 *   one, cut so the token never outlives the subject token.
 * - Scopes: as {@link grantScopes} decides.
 * @throws InvalidScopeError when the requested scope is not allowed.
 */
export function tokenSettings(server: ServerContext, request: TokenRequestFacts): TokenSettings {
  const { config } = server;
  const client = server.clients.find(request.clientId);
  const targetSettings = request.targets.map((target) => audienceSettings(server, target));
  const firstTargetSettings = targetSettings.find(Boolean);
  const scopes = grantScopes(server, request);

  const claims = expandClaimTemplates(
    { ...config.claims, ...client?.claims, ...firstTargetSettings?.claims },
    {
      sub: request.sub,
      client_id: request.clientId,
      aud: request.targets[0] ?? request.issuer,
      scope: scopes.join(' '),
    },
  );

  const targetTtls = targetSettings
    .map((settings) => settings?.tokenTtl)
    .filter((ttl): ttl is number => ttl !== undefined);
  const ttl =
    targetTtls.length > 0 ? Math.min(...targetTtls) : (client?.tokenTtl ?? config.tokenTtl);

  return {
    format: firstTargetSettings?.tokenFormat ?? client?.tokenFormat ?? config.tokenFormat,
    claims,
    lifetime: capLifetime(server, ttl, request.subjectExp),
    scopes,
  };
}

/** Cuts a lifetime so the token never outlives a subject token with `exp`. */
function capLifetime(server: ServerContext, ttl: number, subjectExp: number | undefined): number {
  if (subjectExp === undefined || !Number.isFinite(subjectExp)) return ttl;
  return Math.max(0, Math.min(ttl, Math.floor(subjectExp) - server.nowSeconds()));
}

/**
 * Checks the requested targets against the client's `audiences` and `resources`. A client
 * without such a list, or any client of an open registry, may request any target.
 * @throws InvalidTargetError for the first target outside the lists; RFC 8693 §2.1.1 forbids
 * dropping it silently.
 */
export function checkClientTargets(
  server: ServerContext,
  clientId: string,
  audiences: readonly string[],
  resources: readonly string[],
): void {
  const client = server.clients.find(clientId);
  if (!client) return;
  checkAllowedTargets('audience', audiences, client.audiences, clientId);
  checkAllowedTargets('resource', resources, client.resources, clientId);
}

function checkAllowedTargets(
  name: 'audience' | 'resource',
  requested: readonly string[],
  allowed: readonly string[] | undefined,
  clientId: string,
): void {
  if (allowed === undefined) return;
  for (const [index, target] of requested.entries()) {
    if (allowed.includes(target)) continue;
    // The position, not the value, is public: a value may contain characters that RFC 6749 §5.2
    // does not allow in error_description.
    const position = requested.length > 1 ? ` (value ${index + 1})` : '';
    throw new InvalidTargetError(`${name} is not allowed for this client${position}`, {
      detail: `${name} ${JSON.stringify(truncate(target))} is not in the ${name}s of client ${JSON.stringify(clientId)}`,
    });
  }
}

/** A target whose settings restrict the scopes a token for it may carry. */
interface ScopeRestriction {
  target: string;
  scopes: readonly string[];
  policy: 'reject' | 'narrow';
}

/**
 * Decides the granted scopes.
 *
 * - A subject token with a `scope` claim bounds the request: a requested scope outside it is
 *   `invalid_scope`.
 * - A target whose settings list `scopes` allows only those, and the granted scope must be
 *   allowed at every requested target (RFC 8693 §2.1.1). A requested scope that a target does
 *   not allow is `invalid_scope` when that target's policy is `reject`, and left out when it is
 *   `narrow`. When nothing is left, the request is `invalid_scope` too.
 * - Without a requested scope, the grant is the subject token's scopes, or else the first
 *   restricting target's scopes, in both cases kept to those every target allows.
 * @throws InvalidScopeError as listed above.
 */
export function grantScopes(server: ServerContext, request: TokenRequestFacts): string[] {
  const { requestedScopes: requested, subjectScopes } = request;
  if (subjectScopes !== undefined && requested.length > 0) {
    const beyond = requested.filter((scope) => !subjectScopes.includes(scope));
    if (beyond.length > 0) {
      throw new InvalidScopeError('requested scope exceeds the scope of the subject token', {
        detail: `not in the subject token: ${beyond.join(' ')}`,
      });
    }
  }

  const restrictions = scopeRestrictions(server, request.targets);
  const allowedEverywhere = (scope: string) =>
    restrictions.every((restriction) => restriction.scopes.includes(scope));

  if (requested.length === 0) {
    const base = subjectScopes ?? restrictions[0]?.scopes ?? [];
    return [...new Set(base)].filter(allowedEverywhere);
  }

  for (const restriction of restrictions) {
    if (restriction.policy !== 'reject') continue;
    const beyond = requested.filter((scope) => !restriction.scopes.includes(scope));
    if (beyond.length > 0) {
      throw new InvalidScopeError(
        `scope not allowed at the requested target: ${beyond.join(' ')}`,
        {
          detail: `${JSON.stringify(truncate(restriction.target))} allows only: ${describeScopes(restriction.scopes)}`,
        },
      );
    }
  }

  const granted = requested.filter(allowedEverywhere);
  if (granted.length === 0) {
    // RFC 6749 §3.3 requires `scope` in a response whose grant differs from the request, and
    // an empty grant has no valid `scope` value.
    throw new InvalidScopeError('no requested scope is allowed at the requested targets', {
      detail: restrictions
        .map(
          ({ target, scopes }) =>
            `${JSON.stringify(truncate(target))} allows ${describeScopes(scopes)}`,
        )
        .join('; '),
    });
  }
  return granted;
}

function scopeRestrictions(server: ServerContext, targets: readonly string[]): ScopeRestriction[] {
  const restrictions: ScopeRestriction[] = [];
  for (const target of targets) {
    const settings = audienceSettings(server, target);
    if (settings?.scopes === undefined) continue;
    restrictions.push({
      target,
      scopes: settings.scopes,
      policy: settings.scopePolicy ?? server.config.scopePolicy,
    });
  }
  return restrictions;
}

/** Looks up the settings of one target, ignoring inherited keys such as `constructor`. */
function audienceSettings(server: ServerContext, target: string) {
  const { audiences } = server.config;
  return Object.hasOwn(audiences, target) ? audiences[target] : undefined;
}

function describeScopes(scopes: readonly string[]): string {
  return scopes.length > 0 ? scopes.join(' ') : 'no scope';
}
