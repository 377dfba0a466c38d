import type { AuthenticatedClient } from '../client-auth/authenticate.js';
import type { ServerContext } from '../context.js';
import { inputTokenError, type ValidatedToken } from '../validation/input-token.js';

/**
 * Identity claims that `act` and `may_act` may carry (RFC 8693 §4.1, §4.4). Claims such as
 * `exp`, `aud` or `iat` are about a token, not a party, and are never copied into `act`. Only
 * string values count, as every one of these claims is a string.
 */
const IDENTITY_CLAIMS = ['sub', 'iss', 'client_id', 'email', 'name', 'preferred_username'];

/** Prefix of the `sub` given to a subject or actor token that has no `sub` claim. */
const FINGERPRINT_SUBJECT_PREFIX = 'urn:mock-token-exchange-server:subject:';

/**
 * Builds the `act` claim of an issued token, or `undefined` for impersonation.
 *
 * - With an actor token, `act` names the actor, and an `act` already in the subject token is
 *   nested inside it, so the current actor is outermost (RFC 8693 §4.1).
 * - Without one, `delegation.clientAsActor` names the client as the actor in the same way.
 *   Otherwise the subject token's own `act` is kept, so exchanging a delegated token never
 *   hides its actors, and a subject token without `act` gives a token without `act`.
 * - A `may_act` claim in the subject token (RFC 8693 §4.4) must name the actor. Without an
 *   actor token, the authenticated client is the would-be actor, so leaving the actor out
 *   cannot bypass the check.
 *
 * Every level of the result holds only identity claims.
 * @throws InvalidRequestError (or InvalidGrantError, by `subjectTokens.errorCode`) when
 * `may_act` forbids the actor, a prior `act` is malformed, or the chain would be deeper than
 * `delegation.maxDepth`.
 */
export function buildActClaim(
  server: ServerContext,
  client: AuthenticatedClient,
  subject: ValidatedToken,
  actor: ValidatedToken | undefined,
): Record<string, unknown> | undefined {
  const actorIdentity = actor ? actorTokenIdentity(actor) : { sub: client.clientId };
  checkMayAct(server, subject.claims?.may_act, actor, client);

  const prior = priorActChain(server, subject.claims?.act);
  const actorNamed = actor !== undefined || server.config.delegation.clientAsActor;
  if (!actorNamed) return prior;

  const act: Record<string, unknown> = { ...actorIdentity };
  if (prior !== undefined) act.act = prior;

  const depth = actDepth(act);
  const { maxDepth } = server.config.delegation;
  if (depth > maxDepth) {
    throw inputTokenError(
      server,
      'the delegation chain is too deep',
      `the act chain would be ${depth} deep; delegation.maxDepth is ${maxDepth}`,
    );
  }
  return act;
}

/**
 * Returns the `sub` that names the party of a subject or actor token: its `sub` claim, or for a
 * token without a non-empty one, `urn:mock-token-exchange-server:subject:<fingerprint>`, stable
 * for the token.
 */
export function tokenSubject(token: ValidatedToken): string {
  const sub = token.claims?.sub;
  return typeof sub === 'string' && sub !== ''
    ? sub
    : `${FINGERPRINT_SUBJECT_PREFIX}${token.fingerprint}`;
}

/** Names the actor of an actor token by its identity claims and {@link tokenSubject}. */
function actorTokenIdentity(actor: ValidatedToken): Record<string, string> {
  const { sub: _sub, ...otherClaims } = identityOf(actor.claims);
  return { sub: tokenSubject(actor), ...otherClaims };
}

/** Copies the string-valued identity claims of a claims set. */
function identityOf(claims: Record<string, unknown> | undefined): Record<string, string> {
  const identity: Record<string, string> = {};
  for (const name of IDENTITY_CLAIMS) {
    const value = claims?.[name];
    if (typeof value === 'string') identity[name] = value;
  }
  return identity;
}

/**
 * Reads the subject token's `act` chain, keeping only identity claims at each level, and checks
 * it against `delegation.maxDepth`.
 * @throws the configured input token error when a level is not a JSON object or the chain is
 * too deep.
 */
function priorActChain(server: ServerContext, prior: unknown): Record<string, unknown> | undefined {
  if (prior === undefined) return undefined;
  const { maxDepth } = server.config.delegation;
  const levels: Record<string, string>[] = [];
  let current: unknown = prior;
  while (current !== undefined) {
    if (!isPlainObject(current)) {
      const path = ['act', ...levels.map(() => 'act')].join('.');
      throw inputTokenError(
        server,
        'the subject token has a malformed act claim',
        `${path} must be a JSON object, got ${describeType(current)}`,
      );
    }
    if (levels.length === maxDepth) {
      throw inputTokenError(
        server,
        'the delegation chain is too deep',
        `the subject token's act chain is deeper than delegation.maxDepth ${maxDepth}`,
      );
    }
    levels.push(identityOf(current));
    current = current.act;
  }

  let chain: Record<string, unknown> | undefined;
  for (const level of levels.reverse()) {
    chain = chain === undefined ? { ...level } : { ...level, act: chain };
  }
  return chain;
}

/**
 * Checks `may_act` (RFC 8693 §4.4): every identity claim it lists must equal the actor's claim
 * of that name, and it must list at least one. An absent `may_act` allows any actor. Without an
 * actor token, the client is the actor, matched by its client id as `sub` or `client_id`.
 */
function checkMayAct(
  server: ServerContext,
  mayAct: unknown,
  actor: ValidatedToken | undefined,
  client: AuthenticatedClient,
): void {
  if (mayAct === undefined) return;
  if (!isPlainObject(mayAct)) {
    throw inputTokenError(
      server,
      'subject_token is invalid',
      `may_act must be a JSON object, got ${describeType(mayAct)}`,
    );
  }
  const expected = identityOf(mayAct);
  const candidate = actor
    ? actorTokenIdentity(actor)
    : { sub: client.clientId, client_id: client.clientId };
  const names = Object.keys(expected);
  const actorDescription = actor ? 'the actor token' : 'the authenticated client';
  if (names.length === 0) {
    throw inputTokenError(
      server,
      'the subject token does not allow this actor (may_act)',
      `may_act names no actor: it has none of the string claims ${IDENTITY_CLAIMS.join(', ')}`,
    );
  }
  if (!names.every((name) => candidate[name] === expected[name])) {
    throw inputTokenError(
      server,
      'the subject token does not allow this actor (may_act)',
      `may_act ${JSON.stringify(expected)} does not name ${actorDescription} ${JSON.stringify(candidate)}`,
    );
  }
}

/** Counts the actors in an `act` chain, outermost first. */
function actDepth(act: Record<string, unknown>): number {
  let depth = 0;
  let current: unknown = act;
  while (isPlainObject(current)) {
    depth += 1;
    current = current.act;
  }
  return depth;
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
