import type { BasicCredentialEncoding, ClientAuthMethod } from '../client-auth/authenticate.js';

/** A JWT's header and claims, read without checking its signature. */
export interface DecodedJwt {
  /**
   * True only when `subjectTokens.validation` is `verify` and the signature checked out; the
   * header and claims shown are decoded either way.
   */
  verified: boolean;
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/** A subject, actor or issued token as the request log records it. */
export interface LoggedToken {
  /** The token type URI the request declared or the server issued. */
  type: string | null;
  /** First 16 hex characters of the SHA-256 digest of the token. */
  fingerprint: string;
  /** Header and claims when the token is a JWT, else null. */
  jwt: DecodedJwt | null;
  /** The token itself, present only with `requestLog.unsafeIncludeTokens`. */
  value?: string;
}

export interface LoggedClient {
  id: string | null;
  authMethod: ClientAuthMethod | null;
  /** Encoding of the Basic credentials, for `client_secret_basic` only. */
  basicEncoding?: BasicCredentialEncoding;
  /** True once the client passed authentication. */
  authenticated: boolean;
}

export interface RequestOutcome {
  /** The HTTP status, or 0 when a rule closed the connection or left it without a response. */
  status: number;
  /** The OAuth `error` code; absent on success. */
  error?: string;
  /** The `error_description` sent to the client. */
  errorDescription?: string;
  /** The private reason, never sent to the client. */
  detail?: string;
}

/** One token endpoint request, successful or not. */
export interface RequestLogEntry {
  /** The request id, also in the server log line of the same request. */
  id: string;
  /** ISO 8601 time the request arrived. */
  time: string;
  client: LoggedClient;
  grantType: string | null;
  /** `sub` claim of the subject token when it is a JWT, read without verification. */
  subject: string | null;
  subjectToken: LoggedToken | null;
  actorToken: LoggedToken | null;
  audiences: string[];
  resources: string[];
  requestedScope: string | null;
  grantedScope: string | null;
  requestedTokenType: string | null;
  issuedToken: LoggedToken | null;
  /** Id of the rule that fired for the request, or null when none did. */
  rule: string | null;
  outcome: RequestOutcome;
}
