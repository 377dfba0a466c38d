import type { AuthenticatedClient, ClaimedClient } from '../client-auth/authenticate.js';
import type { OAuthError } from '../errors.js';
import type { FormParameters } from '../http/form.js';
import { decodeUnverified, type UnverifiedJwt } from '../tokens/decode.js';
import { fingerprint } from '../tokens/fingerprint.js';
import type { LoggedClient, LoggedToken, RequestLogEntry, RequestOutcome } from './entry.js';

/** Progress of a token request, from which its request log entry is built. */
export interface TokenRequestState {
  /** Milliseconds since the epoch when the request arrived. */
  receivedAt: number;
  /** Set once the request log entry is recorded. */
  recorded?: boolean;
  parameters?: FormParameters;
  claimedClient?: ClaimedClient;
  client?: AuthenticatedClient;
  grantedScope?: string;
  issuedToken?: { value: string; type: string };
  /** Whether validation checked the subject and actor token signatures. */
  verifiedInputs?: { subject: boolean; actor: boolean };
  error?: OAuthError;
  /** Id of the rule that fired for the request. */
  rule?: string;
  /** Reason the request got no response, when a rule closed the connection or left it open. */
  unanswered?: string;
  /** The subject token decoded for the log, once; null when it is not a JWT the log keeps. */
  subjectJwt?: UnverifiedJwt | null;
}

/** What the exchange counters need of a successful token request. */
export interface CountedExchange {
  clientId: string | null;
  /** The `sub` claim of a JWT subject token, read without verification. */
  subject: string | null;
  audiences: readonly string[];
  resources: readonly string[];
}

export interface EntryOptions {
  /** Store tokens in clear; see `requestLog.unsafeIncludeTokens`. */
  includeTokens: boolean;
  /**
   * Most `audience` and `resource` values kept per entry. A rejected request may carry
   * thousands, and keeping them all would let one client fill memory.
   */
  maxTargets: number;
}

/**
 * Builds the request log entry for a finished token request. Parameters are read leniently
 * (the first of repeated values) so that a rejected request is still recorded in full.
 */
export function buildEntry(
  id: string,
  statusCode: number,
  state: TokenRequestState,
  options: EntryOptions,
): RequestLogEntry {
  const parameters = state.parameters;
  const first = (name: string) => parameters?.all(name)[0] ?? null;
  const verified = state.error ? undefined : state.verifiedInputs;
  const subjectToken = loggedInputToken(
    first('subject_token'),
    first('subject_token_type'),
    verified?.subject ?? false,
    options,
    subjectJwt(state),
  );
  const subject = subjectToken?.jwt?.claims.sub;

  return {
    id,
    time: new Date(state.receivedAt).toISOString(),
    client: loggedClient(state),
    grantType: first('grant_type'),
    subject: typeof subject === 'string' ? subject : null,
    subjectToken,
    actorToken: loggedInputToken(
      first('actor_token'),
      first('actor_token_type'),
      verified?.actor ?? false,
      options,
    ),
    audiences: (parameters?.all('audience') ?? []).slice(0, options.maxTargets),
    resources: (parameters?.all('resource') ?? []).slice(0, options.maxTargets),
    requestedScope: first('scope'),
    grantedScope: state.error ? null : (state.grantedScope ?? null),
    requestedTokenType: first('requested_token_type'),
    issuedToken: state.error ? null : loggedIssuedToken(state, options),
    rule: state.rule ?? null,
    outcome: outcome(statusCode, state),
  };
}

/**
 * Returns what the counters record of a request answered with a token, or `undefined` for any
 * other outcome. It reads only what the request log entry would show, without building it.
 */
export function countedExchange(
  statusCode: number,
  state: TokenRequestState,
  maxTargets: number,
): CountedExchange | undefined {
  if (statusCode !== 200 || state.error || state.unanswered !== undefined) return undefined;
  const subject = subjectJwt(state)?.claims.sub;
  return {
    clientId: loggedClient(state).id,
    subject: typeof subject === 'string' ? subject : null,
    audiences: (state.parameters?.all('audience') ?? []).slice(0, maxTargets),
    resources: (state.parameters?.all('resource') ?? []).slice(0, maxTargets),
  };
}

/** Decodes the first subject token once per request, for both the counters and the entry. */
function subjectJwt(state: TokenRequestState): UnverifiedJwt | null {
  if (state.subjectJwt === undefined) {
    const token = state.parameters?.all('subject_token')[0];
    state.subjectJwt = (token === undefined ? undefined : decodeUnverified(token)) ?? null;
  }
  return state.subjectJwt;
}

function loggedClient(state: TokenRequestState): LoggedClient {
  if (state.client) {
    const { clientId, method, basicEncoding } = state.client;
    return {
      id: clientId,
      authMethod: method,
      ...(basicEncoding && { basicEncoding }),
      authenticated: true,
    };
  }
  return {
    id: state.claimedClient?.clientId ?? null,
    authMethod: state.claimedClient?.method ?? null,
    authenticated: false,
  };
}

function loggedInputToken(
  token: string | null,
  type: string | null,
  verified: boolean,
  options: EntryOptions,
  decoded: UnverifiedJwt | null | undefined = token === null ? null : decodeUnverified(token),
): LoggedToken | null {
  if (token === null) return null;
  return {
    type,
    fingerprint: fingerprint(token),
    jwt: decoded ? { verified, ...decoded } : null,
    ...(options.includeTokens && { value: token }),
  };
}

function loggedIssuedToken(state: TokenRequestState, options: EntryOptions): LoggedToken | null {
  const issued = state.issuedToken;
  if (!issued) return null;
  const decoded = decodeUnverified(issued.value);
  return {
    type: issued.type,
    fingerprint: fingerprint(issued.value),
    jwt: decoded ? { verified: false, ...decoded } : null,
    ...(options.includeTokens && { value: issued.value }),
  };
}

function outcome(status: number, state: TokenRequestState): RequestOutcome {
  const error = state.error;
  if (state.unanswered !== undefined) return { status, detail: state.unanswered };
  if (!error) return { status };
  return {
    status,
    error: error.error,
    errorDescription: error.description,
    ...(error.detail !== undefined && { detail: error.detail }),
  };
}
