import { InvalidRequestError } from '../errors.js';
import { issueAccessToken } from '../tokens/issue.js';
import { issueOpaqueToken } from '../tokens/opaque.js';
import { ISSUABLE_TOKEN_TYPES, TokenType } from '../tokens/token-types.js';
import { validateInputToken } from '../validation/input-token.js';
import { buildActClaim, tokenSubject } from './delegation.js';
import { TOKEN_EXCHANGE_GRANT } from './grant-types.js';
import type { GrantContext, GrantHandler, GrantResult } from './registry.js';
import { parseScope, SCOPE_TOKEN } from './scope.js';
import { readTargets, truncate } from './targets.js';
import { checkClientTargets, tokenSettings } from './token-settings.js';

export { TOKEN_EXCHANGE_GRANT } from './grant-types.js';

/** The parameters of an RFC 8693 §2.1 request after validation. */
interface ExchangeRequest {
  subjectToken: string;
  subjectTokenType: string;
  actorToken: string | undefined;
  actorTokenType: string | undefined;
  requestedTokenType: string;
  audiences: string[];
  resources: string[];
  scopes: string[];
}

/** RFC 8693 token exchange. */
export const tokenExchangeGrant: GrantHandler = {
  grantType: TOKEN_EXCHANGE_GRANT,

  async handle(context: GrantContext): Promise<GrantResult> {
    const { server, client, issuer } = context;
    const request = readExchangeRequest(context);
    checkClientTargets(server, client.clientId, request.audiences, request.resources);

    const subject = await validateInputToken(
      context,
      'subject',
      request.subjectToken,
      request.subjectTokenType,
    );
    const actor =
      request.actorToken === undefined || request.actorTokenType === undefined
        ? undefined
        : await validateInputToken(context, 'actor', request.actorToken, request.actorTokenType);

    const targets = [...request.audiences, ...request.resources];
    const sub = tokenSubject(subject);
    const exp = subject.claims?.exp;
    const settings = tokenSettings(server, {
      clientId: client.clientId,
      issuer,
      sub,
      targets,
      requestedScopes: request.scopes,
      subjectScopes: subjectScopes(subject.claims?.scope),
      subjectExp: typeof exp === 'number' ? exp : undefined,
    });
    const act = buildActClaim(server, client, subject, actor);
    // A requested JWT is always a JWT, whatever the configured format.
    const format = request.requestedTokenType === TokenType.jwt ? 'jwt' : settings.format;
    const grantedScope = settings.scopes.length > 0 ? settings.scopes.join(' ') : undefined;

    const issued = await issueAccessToken(server, {
      format,
      tokenType: request.requestedTokenType,
      issuer,
      sub,
      audiences: targets.length > 0 ? targets : [issuer],
      clientId: client.clientId,
      scope: grantedScope,
      ...(act !== undefined && { act }),
      extraClaims: settings.claims,
      lifetime: settings.lifetime,
      opaqueToken: () => issueOpaqueToken({ clientId: client.clientId, ...request }),
    });

    return {
      response: {
        access_token: issued.token,
        issued_token_type: request.requestedTokenType,
        token_type: ISSUABLE_TOKEN_TYPES.get(request.requestedTokenType) ?? 'Bearer',
        expires_in: issued.expiresIn,
        ...(grantedScope !== undefined && { scope: grantedScope }),
      },
      issuedTokenType: request.requestedTokenType,
      grantedScope,
      verifiedInputs: { subject: subject.verified, actor: actor?.verified ?? false },
    };
  },
};

/**
 * Reads the subject token's `scope` claim: a space-separated string (RFC 8693 §4.2), or a list
 * of strings as some servers send it. Tokens that break the RFC 6749 §3.3 syntax are dropped,
 * so they are never granted or echoed. Returns `undefined` when the claim is absent or unusable.
 */
function subjectScopes(claim: unknown): string[] | undefined {
  const values =
    typeof claim === 'string'
      ? claim.split(' ')
      : Array.isArray(claim) && claim.every((value) => typeof value === 'string')
        ? (claim as string[])
        : undefined;
  if (values === undefined) return undefined;
  return [...new Set(values.filter((value) => SCOPE_TOKEN.test(value)))];
}

/**
 * Reads and checks the token exchange parameters.
 * @throws InvalidRequestError, InvalidTargetError or InvalidScopeError naming what is wrong.
 */
function readExchangeRequest({ parameters, server }: GrantContext): ExchangeRequest {
  const { config } = server;
  const subjectToken = parameters.one('subject_token');
  const subjectTokenType = parameters.one('subject_token_type');
  const actorToken = parameters.one('actor_token');
  const actorTokenType = parameters.one('actor_token_type');
  const requestedTokenType = parameters.one('requested_token_type') ?? TokenType.accessToken;
  const scope = parameters.one('scope');

  // RFC 8693 §2.1: subject_token and subject_token_type are required.
  const missing = [
    subjectToken === undefined && 'subject_token',
    subjectTokenType === undefined && 'subject_token_type',
  ].filter((name): name is string => name !== false);
  if (subjectToken === undefined || subjectTokenType === undefined) {
    throw new InvalidRequestError(`missing required parameter ${missing.join(' and ')}`);
  }

  // RFC 8693 §2.1: actor_token_type is required with actor_token and must not appear without it.
  if (actorToken !== undefined && actorTokenType === undefined) {
    throw new InvalidRequestError('actor_token_type is required when actor_token is present');
  }
  if (actorTokenType !== undefined && actorToken === undefined) {
    throw new InvalidRequestError('actor_token_type must not be sent without actor_token');
  }

  checkInputTokenType('subject_token_type', subjectTokenType, config.subjectTokenTypes);
  if (actorTokenType !== undefined) {
    checkInputTokenType('actor_token_type', actorTokenType, config.subjectTokenTypes);
  }
  if (!ISSUABLE_TOKEN_TYPES.has(requestedTokenType)) {
    throw new InvalidRequestError('requested_token_type cannot be issued by this server', {
      detail: `requested_token_type ${JSON.stringify(truncate(requestedTokenType))} is not one of ${[...ISSUABLE_TOKEN_TYPES.keys()].join(', ')}`,
    });
  }

  const { audiences, resources } = readTargets(parameters, config.maxTargets);
  const scopes = scope === undefined ? [] : parseScope(scope);

  return {
    subjectToken,
    subjectTokenType,
    actorToken,
    actorTokenType,
    requestedTokenType,
    audiences,
    resources,
    scopes,
  };
}

/** Token type URIs are compared exactly, case included (RFC 8693 §3). */
function checkInputTokenType(name: string, value: string, accepted: readonly string[]): void {
  if (!accepted.includes(value)) {
    throw new InvalidRequestError(`unsupported ${name}`, {
      detail: `${name} ${JSON.stringify(truncate(value))} is not one of ${accepted.join(', ')}`,
    });
  }
}
