import { InvalidRequestError } from '../errors.js';
import type { FormParameters } from '../http/form.js';
import { issueOpaqueToken } from '../tokens/opaque.js';
import { ISSUABLE_TOKEN_TYPES, TokenType } from '../tokens/token-types.js';
import type { GrantContext, GrantHandler, GrantResult } from './registry.js';
import { parseScope } from './scope.js';
import { limitTargets, truncate, validateAudiences, validateResources } from './targets.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

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

  handle(context: GrantContext): GrantResult {
    const request = readExchangeRequest(context);
    const accessToken = issueOpaqueToken({ clientId: context.client.clientId, ...request });
    const tokenType = ISSUABLE_TOKEN_TYPES.get(request.requestedTokenType) ?? 'Bearer';
    const grantedScope = request.scopes.length > 0 ? request.scopes.join(' ') : undefined;

    return {
      response: {
        access_token: accessToken,
        issued_token_type: request.requestedTokenType,
        token_type: tokenType,
        expires_in: context.config.tokenTtl,
        ...(grantedScope !== undefined && { scope: grantedScope }),
      },
      issuedTokenType: request.requestedTokenType,
      grantedScope,
    };
  },
};

/**
 * Reads and checks the token exchange parameters.
 * @throws InvalidRequestError, InvalidTargetError or InvalidScopeError naming what is wrong.
 */
function readExchangeRequest({ parameters, config }: GrantContext): ExchangeRequest {
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

/** Reads `audience` and `resource`, both repeatable (RFC 8693 §2.1), de-duplicated in order. */
function readTargets(parameters: FormParameters, maxTargets: number) {
  const audiences = [...new Set(parameters.all('audience'))];
  const resources = [...new Set(parameters.all('resource'))];
  limitTargets(audiences.length + resources.length, maxTargets);
  validateAudiences(audiences);
  validateResources(resources);
  return { audiences, resources };
}
