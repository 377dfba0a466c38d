import type { AuthenticatedClient, ClaimedClient } from '../client-auth/authenticate.js';
import type { OAuthError } from '../errors.js';
import type { FormParameters } from '../http/form.js';
import { decodeUnverified, MAX_DECODED_JWT_LENGTH } from '../tokens/decode.js';
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
}

/**
 * A finished token request as the request log stores it until the entry is first read. Its
 * fields are flat and include only the parameters the entry shows, so the thousand requests of
 * a full log are few objects for the garbage collector to copy, and no client secret is kept.
 */
export interface CapturedRequest {
  id: string;
  statusCode: number;
  receivedAt: number;
  /** First values of the parameters the entry shows, by name. */
  grantType: string | undefined;
  subjectToken: KeptToken | undefined;
  subjectTokenType: string | undefined;
  actorToken: KeptToken | undefined;
  actorTokenType: string | undefined;
  requestedScope: string | undefined;
  requestedTokenType: string | undefined;
  /** At most `maxTargets` of them, or undefined when there are none. */
  audiences: readonly string[] | undefined;
  resources: readonly string[] | undefined;
  claimedClientId: string | undefined;
  claimedMethod: ClaimedClient['method'];
  client: AuthenticatedClient | undefined;
  grantedScope: string | undefined;
  issuedToken: string | undefined;
  issuedTokenType: string | undefined;
  verifiedSubject: boolean;
  verifiedActor: boolean;
  /**
   * The OAuth error sent, as plain strings. An Error object would keep its stack trace, and the
   * stack trace would keep the request and its body.
   */
  error: string | undefined;
  errorDescription: string | undefined;
  errorDetail: string | undefined;
  rule: string | undefined;
  unanswered: string | undefined;
}

/**
 * A subject or actor token as a captured request keeps it. That is the token itself, or only
 * its fingerprint when the token is too long to be decoded for the log and its value is not
 * logged.
 */
type KeptToken = string | { fingerprint: string };

/** Length above which a token is never decoded for the log (see {@link MAX_DECODED_JWT_LENGTH}). */
const MAX_KEPT_TOKEN_LENGTH = 2 * MAX_DECODED_JWT_LENGTH;

function keptToken(token: string | undefined, options: EntryOptions): KeptToken | undefined {
  if (token === undefined || token.length <= MAX_KEPT_TOKEN_LENGTH || options.includeTokens) {
    return token;
  }
  return { fingerprint: fingerprint(token) };
}

/** The fields of a successful token request that the exchange counters count by. */
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
 * Copies what the request log entry of a finished request needs from its state. Parameters are
 * read leniently (the first of repeated values) so that a rejected request is still recorded in
 * full.
 */
export function captureRequest(
  id: string,
  statusCode: number,
  state: TokenRequestState,
  options: EntryOptions,
): CapturedRequest {
  const parameters = state.parameters;
  const first = (name: string) => parameters?.all(name)[0];
  return {
    id,
    statusCode,
    receivedAt: state.receivedAt,
    grantType: first('grant_type'),
    subjectToken: keptToken(first('subject_token'), options),
    subjectTokenType: first('subject_token_type'),
    actorToken: keptToken(first('actor_token'), options),
    actorTokenType: first('actor_token_type'),
    requestedScope: first('scope'),
    requestedTokenType: first('requested_token_type'),
    audiences: targets(parameters, 'audience', options.maxTargets),
    resources: targets(parameters, 'resource', options.maxTargets),
    claimedClientId: state.claimedClient?.clientId,
    claimedMethod: state.claimedClient?.method,
    client: state.client,
    grantedScope: state.grantedScope,
    issuedToken: state.issuedToken?.value,
    issuedTokenType: state.issuedToken?.type,
    verifiedSubject: state.verifiedInputs?.subject ?? false,
    verifiedActor: state.verifiedInputs?.actor ?? false,
    error: state.error?.error,
    errorDescription: state.error?.description,
    errorDetail: state.error?.detail,
    rule: state.rule,
    unanswered: state.unanswered,
  };
}

function targets(
  parameters: FormParameters | undefined,
  name: string,
  maxTargets: number,
): readonly string[] | undefined {
  const values = parameters?.all(name);
  if (!values || values.length === 0) return undefined;
  return values.length > maxTargets ? values.slice(0, maxTargets) : values;
}

/** Builds the request log entry of a captured request. */
export function buildEntry(request: CapturedRequest, options: EntryOptions): RequestLogEntry {
  const failed = request.error !== undefined;
  const subjectToken = loggedInputToken(
    request.subjectToken,
    request.subjectTokenType,
    !failed && request.verifiedSubject,
    options,
  );
  const subject = subjectToken?.jwt?.claims.sub;

  return {
    id: request.id,
    time: new Date(request.receivedAt).toISOString(),
    client: loggedClient(request),
    grantType: request.grantType ?? null,
    subject: typeof subject === 'string' ? subject : null,
    subjectToken,
    actorToken: loggedInputToken(
      request.actorToken,
      request.actorTokenType,
      !failed && request.verifiedActor,
      options,
    ),
    audiences: [...(request.audiences ?? [])],
    resources: [...(request.resources ?? [])],
    requestedScope: request.requestedScope ?? null,
    grantedScope: failed ? null : (request.grantedScope ?? null),
    requestedTokenType: request.requestedTokenType ?? null,
    issuedToken: failed ? null : loggedIssuedToken(request, options),
    rule: request.rule ?? null,
    outcome: outcome(request),
  };
}

/**
 * Returns the counters' view of a request that was given a token, read from its captured record
 * without building the entry, or `undefined` for any other outcome.
 */
export function countedExchange(request: CapturedRequest): CountedExchange | undefined {
  // A `response` rule can send 200 with a body of its own, so only an issued token counts.
  if (request.statusCode !== 200 || request.error !== undefined) return undefined;
  if (request.issuedToken === undefined) return undefined;
  // A token kept only as its fingerprint is too long for the log to decode, so it has no `sub`.
  const token = request.subjectToken;
  const subject = typeof token === 'string' ? decodeUnverified(token)?.claims.sub : undefined;
  return {
    clientId: loggedClient(request).id,
    subject: typeof subject === 'string' ? subject : null,
    audiences: request.audiences ?? [],
    resources: request.resources ?? [],
  };
}

function loggedClient(request: CapturedRequest): LoggedClient {
  if (request.client) {
    const { clientId, method, basicEncoding } = request.client;
    return {
      id: clientId,
      authMethod: method,
      ...(basicEncoding && { basicEncoding }),
      authenticated: true,
    };
  }
  return {
    id: request.claimedClientId ?? null,
    authMethod: request.claimedMethod ?? null,
    authenticated: false,
  };
}

function loggedInputToken(
  token: KeptToken | undefined,
  type: string | undefined,
  verified: boolean,
  options: EntryOptions,
): LoggedToken | null {
  if (token === undefined) return null;
  if (typeof token !== 'string')
    return { type: type ?? null, fingerprint: token.fingerprint, jwt: null };
  const decoded = decodeUnverified(token);
  return {
    type: type ?? null,
    fingerprint: fingerprint(token),
    jwt: decoded ? { verified, ...decoded } : null,
    ...(options.includeTokens && { value: token }),
  };
}

function loggedIssuedToken(request: CapturedRequest, options: EntryOptions): LoggedToken | null {
  const token = request.issuedToken;
  if (token === undefined) return null;
  const decoded = decodeUnverified(token);
  return {
    type: request.issuedTokenType ?? null,
    fingerprint: fingerprint(token),
    jwt: decoded ? { verified: false, ...decoded } : null,
    ...(options.includeTokens && { value: token }),
  };
}

function outcome(request: CapturedRequest): RequestOutcome {
  const { statusCode: status, error } = request;
  if (request.unanswered !== undefined) return { status, detail: request.unanswered };
  if (error === undefined) return { status };
  return {
    status,
    error,
    errorDescription: request.errorDescription ?? '',
    ...(request.errorDetail !== undefined && { detail: request.errorDetail }),
  };
}
