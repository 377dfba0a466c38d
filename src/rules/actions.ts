import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';
import type { TokenResponse } from '../grants/registry.js';
import type { IssueOverrides } from '../tokens/issue.js';
import type { Rule, RuleAction } from './rule.js';

export type ModifyAction = Extract<RuleAction, { type: 'modify' }>;

/** Outcome of a rule's action: whether the token endpoint stops or goes on. */
export type RuleEffect =
  /** The action sent a response, closed the connection or left it open, so the endpoint stops. */
  | { done: true }
  /** The request goes on as usual, with the changes of a `modify` action when there is one. */
  | { done: false; modify?: ModifyAction };

export interface RuleActionHooks {
  /** Sockets of requests left hanging, which the server destroys when it closes. */
  hanging: Set<Socket>;
  /** Aborted when the server starts to close, which cuts delays short. */
  closing: AbortSignal;
  /** Records the request in the request log as having got no response, with the reason. */
  recordUnanswered(detail: string): void;
}

/** Description of an `error` action that gives none. */
export const DEFAULT_ERROR_DESCRIPTION = 'the request could not be processed';

/**
 * Headers that frame the message. Node sets them from the body, and a scripted value that
 * disagrees with the body would make Node throw instead of responding.
 */
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding']);

/**
 * Runs the action of a rule that fired for a token request.
 * @throws OAuthError for an `error` action, for the error handler to send.
 */
export async function runRuleAction(
  rule: Rule,
  request: FastifyRequest,
  reply: FastifyReply,
  hooks: RuleActionHooks,
): Promise<RuleEffect> {
  const { action } = rule;
  switch (action.type) {
    case 'error':
      throw new OAuthError(
        action.error,
        action.status,
        action.description ?? DEFAULT_ERROR_DESCRIPTION,
        { detail: `error scripted by rule ${rule.id}`, headers: action.headers ?? {} },
      );
    case 'response':
      sendScriptedResponse(reply, action);
      return { done: true };
    case 'delay':
      await delay(action.ms, hooks.closing);
      return { done: false };
    case 'close':
      request.log.info({ rule: rule.id }, 'connection closed by rule');
      hooks.recordUnanswered(`connection closed by rule ${rule.id}`);
      request.raw.socket.destroy();
      return { done: true };
    case 'hang':
      leaveHanging(rule, request, hooks);
      return { done: true };
    case 'modify':
      return { done: false, modify: action };
  }
}

/**
 * Waits on the real timer, not the server clock, because a frozen clock must not freeze the
 * delay. A client that disconnects does not cut the wait short, and its reply is discarded. A
 * server that closes does, so that shutdown does not wait for the delay.
 */
async function delay(ms: number, closing: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal: closing });
  } catch (error) {
    if (!closing.aborted) throw error;
  }
}

function sendScriptedResponse(
  reply: FastifyReply,
  action: Extract<RuleAction, { type: 'response' }>,
): void {
  reply.code(action.status);
  for (const [name, value] of Object.entries(action.headers ?? {})) {
    if (!FRAMING_HEADERS.has(name.toLowerCase())) reply.header(name, value);
  }
  // Fastify sends a Buffer as it is, whereas it appends a charset to the content type of a JSON
  // string. Invalid JSON thus stays invalid, and the onSend hook still adds no-store.
  reply.header('content-type', action.contentType).send(Buffer.from(action.body, 'utf8'));
}

/**
 * Keeps the connection open without responding. Node's `requestTimeout` ends once the body is
 * read, so only the client, or the server closing, ends the connection.
 */
function leaveHanging(rule: Rule, request: FastifyRequest, hooks: RuleActionHooks): void {
  const socket = request.raw.socket;
  hooks.hanging.add(socket);
  socket.once('close', () => hooks.hanging.delete(socket));
  request.log.info({ rule: rule.id }, 'request left hanging by rule');
  hooks.recordUnanswered(`request left hanging by rule ${rule.id}`);
}

/** Returns the changes a `modify` action makes to the issued token. */
export function issueOverrides(action: ModifyAction | undefined): IssueOverrides {
  if (action === undefined) return {};
  return {
    ...(action.expired && { expired: true }),
    ...(action.audience !== undefined && { audience: action.audience }),
  };
}

/**
 * Applies a `modify` action to a success response. `addMembers` comes last, so it can also
 * replace members the other options set.
 */
export function modifyResponse(
  response: TokenResponse,
  action: ModifyAction,
): Record<string, unknown> {
  const body: Record<string, unknown> = { ...response };
  if (action.expiresIn === 'omit') delete body.expires_in;
  else if (action.expiresIn === 'string') body.expires_in = String(response.expires_in ?? 0);
  else if (typeof action.expiresIn === 'number') body.expires_in = action.expiresIn;
  if (action.tokenType !== undefined) body.token_type = action.tokenType;
  if (action.omitIssuedTokenType) delete body.issued_token_type;
  for (const [name, value] of Object.entries(action.addMembers ?? {})) {
    // defineProperty, unlike assignment, treats a member named `__proto__` as a plain member.
    Object.defineProperty(body, name, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return body;
}
