import type { AuthenticatedClient, ClaimedClient } from '../client-auth/authenticate.js';
import type { OAuthError } from '../errors.js';
import { type FormParameters, parseForm } from '../http/form.js';
import { decodeUnverified } from '../tokens/decode.js';
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
 * A finished token request as the request log holds it until the entry is first read. Its
 * fields are flat and the form is kept as its text, to be parsed again, so that the thousand
 * requests a full log holds are few objects for the garbage collector to copy and promote.
 */
export interface CapturedRequest {
  id: string;
  statusCode: number;
  receivedAt: number;
  /** The decoded form body, or undefined when the body was not a form that parsed. */
  form: string | undefined;
  claimedClientId: string | undefined;
  claimedMethod: ClaimedClient['method'];
  client: AuthenticatedClient | undefined;
  grantedScope: string | undefined;
  issuedToken: string | undefined;
  issuedTokenType: string | undefined;
  verifiedSubject: boolean;
  verifiedActor: boolean;
  error: OAuthError | undefined;
  rule: string | undefined;
  unanswered: string | undefined;
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

/** Takes what the request log entry of a finished request needs from its state. */
export function captureRequest(
  id: string,
  statusCode: number,
  state: TokenRequestState,
): CapturedRequest {
  return {
    id,
    statusCode,
    receivedAt: state.receivedAt,
    form: state.parameters?.source,
    claimedClientId: state.claimedClient?.clientId,
    claimedMethod: state.claimedClient?.method,
    client: state.client,
    grantedScope: state.grantedScope,
    issuedToken: state.issuedToken?.value,
    issuedTokenType: state.issuedToken?.type,
    verifiedSubject: state.verifiedInputs?.subject ?? false,
    verifiedActor: state.verifiedInputs?.actor ?? false,
    error: state.error,
    rule: state.rule,
    unanswered: state.unanswered,
  };
}

/**
 * Builds the request log entry of a captured request. Parameters are read leniently (the first
 * of repeated values) so that a rejected request is still recorded in full.
 */
export function buildEntry(request: CapturedRequest, options: EntryOptions): RequestLogEntry {
  const parameters = parseCapturedForm(request.form);
  const first = (name: string) => parameters?.all(name)[0] ?? null;
  const failed = request.error !== undefined;
  const subjectToken = loggedInputToken(
    first('subject_token'),
    first('subject_token_type'),
    !failed && request.verifiedSubject,
    options,
  );
  const subject = subjectToken?.jwt?.claims.sub;

  return {
    id: request.id,
    time: new Date(request.receivedAt).toISOString(),
    client: loggedClient(request),
    grantType: first('grant_type'),
    subject: typeof subject === 'string' ? subject : null,
    subjectToken,
    actorToken: loggedInputToken(
      first('actor_token'),
      first('actor_token_type'),
      !failed && request.verifiedActor,
      options,
    ),
    audiences: (parameters?.all('audience') ?? []).slice(0, options.maxTargets),
    resources: (parameters?.all('resource') ?? []).slice(0, options.maxTargets),
    requestedScope: first('scope'),
    grantedScope: failed ? null : (request.grantedScope ?? null),
    requestedTokenType: first('requested_token_type'),
    issuedToken: failed ? null : loggedIssuedToken(request, options),
    rule: request.rule ?? null,
    outcome: outcome(request),
  };
}

/** Parses a form that parsed once already; undefined when there is none. */
function parseCapturedForm(form: string | undefined): FormParameters | undefined {
  if (form === undefined) return undefined;
  try {
    return parseForm(form);
  } catch {
    return undefined;
  }
}

/**
 * Returns what the counters record of a request answered with a token, or `undefined` for any
 * other outcome. It reads what the request log entry would show, without building the entry.
 */
export function countedExchange(
  statusCode: number,
  state: TokenRequestState,
  maxTargets: number,
): CountedExchange | undefined {
  if (statusCode !== 200 || state.error || state.unanswered !== undefined) return undefined;
  const subjectToken = state.parameters?.all('subject_token')[0];
  const subject =
    subjectToken === undefined ? undefined : decodeUnverified(subjectToken)?.claims.sub;
  return {
    clientId: state.client?.clientId ?? state.claimedClient?.clientId ?? null,
    subject: typeof subject === 'string' ? subject : null,
    audiences: (state.parameters?.all('audience') ?? []).slice(0, maxTargets),
    resources: (state.parameters?.all('resource') ?? []).slice(0, maxTargets),
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
  token: string | null,
  type: string | null,
  verified: boolean,
  options: EntryOptions,
): LoggedToken | null {
  if (token === null) return null;
  const decoded = decodeUnverified(token);
  return {
    type,
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
  if (!error) return { status };
  return {
    status,
    error: error.error,
    errorDescription: error.description,
    ...(error.detail !== undefined && { detail: error.detail }),
  };
}
