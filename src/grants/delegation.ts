import type { AuthenticatedClient } from '../client-auth/authenticate.js';
import type { ServerContext } from '../context.js';
import { InvalidRequestError } from '../errors.js';
import { invalidInputToken, type ValidatedToken } from '../validation/input-token.js';

/**
 * Identity claims that `act` and `may_act` may carry (RFC 8693 §4.1, §4.4). Claims such as
 * `exp`, `aud` or `iat` are about a token, not a party, and are never copied into `act`.
 */
const IDENTITY_CLAIMS = ['sub', 'iss', 'client_id', 'email', 'name', 'preferred_username'];

/**
 * Builds the `act` claim of an issued token, or `undefined` for impersonation.
 *
 * - With an actor token, `act` names the actor; an `act` already in the subject token is
 *   nested inside it, so the current actor is outermost (RFC 8693 §4.1).
 * - Without one, there is no `act` unless `delegation.clientAsActor` names the client.
 * - A `may_act` claim in the subject token (RFC 8693 §4.4) must name the actor. Without an
 *   actor token, the authenticated client is the would-be actor, so leaving the actor out
 *   cannot bypass the check.
 * @throws InvalidRequestError (or the configured error code) when `may_act` forbids the actor,
 * a prior `act` is malformed, or the chain would exceed `delegation.maxDepth`.
 */
export function buildActClaim(
  server: ServerContext,
  client: AuthenticatedClient,
  subject: ValidatedToken,
  actor: ValidatedToken | undefined,
): Record<string, unknown> | undefined {
  const actorIdentity = actor ? identityOf(actor.claims) : { sub: client.clientId };
  checkMayAct(server, subject.claims?.may_act, actorIdentity, actor !== undefined);

  if (!actor && !server.config.delegation.clientAsActor) return undefined;

  const prior = subject.claims?.act;
  if (prior !== undefined && !isPlainObject(prior)) {
    throw new InvalidRequestError('the subject token has a malformed act claim', {
      detail: `act must be a JSON object, got ${Array.isArray(prior) ? 'an array' : typeof prior}`,
    });
  }
  const act: Record<string, unknown> = { ...actorIdentity };
  if (prior !== undefined) act.act = prior;

  const depth = actDepth(act);
  if (depth > server.config.delegation.maxDepth) {
    throw new InvalidRequestError('the delegation chain is too deep', {
      detail: `the act chain would be ${depth} deep; delegation.maxDepth is ${server.config.delegation.maxDepth}`,
    });
  }
  return act;
}

/** Copies the identity claims of an actor token; an actor without `sub` is named by nothing. */
function identityOf(claims: Record<string, unknown> | undefined): Record<string, unknown> {
  const identity: Record<string, unknown> = {};
  for (const name of IDENTITY_CLAIMS) {
    if (claims?.[name] !== undefined) identity[name] = claims[name];
  }
  return identity;
}

/**
 * Checks `may_act`: every identity claim it lists must equal the actor's claim of that name.
 * An absent `may_act` allows any actor.
 */
function checkMayAct(
  server: ServerContext,
  mayAct: unknown,
  actor: Record<string, unknown>,
  hasActorToken: boolean,
): void {
  if (mayAct === undefined) return;
  if (!isPlainObject(mayAct)) {
    throw invalidInputToken(server, 'subject', 'may_act must be a JSON object');
  }
  const mismatched = Object.entries(mayAct).filter(
    ([name, value]) => IDENTITY_CLAIMS.includes(name) && actor[name] !== value,
  );
  const namesNothing = !Object.keys(mayAct).some((name) => IDENTITY_CLAIMS.includes(name));
  if (mismatched.length > 0 || namesNothing) {
    const who = hasActorToken ? 'the actor token' : 'the authenticated client';
    throw new InvalidRequestError('the subject token does not allow this actor (may_act)', {
      detail: `may_act ${JSON.stringify(mayAct)} does not name ${who} ${JSON.stringify(actor)}`,
    });
  }
}

/** Counts the actors in an `act` chain, outermost first. */
function actDepth(act: Record<string, unknown>): number {
  let depth = 0;
  let current: unknown = act;
  while (isPlainObject(current)) {
    depth += 1;
    if (depth > 64) break;
    current = current.act;
  }
  return depth;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
