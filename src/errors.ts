/**
 * OAuth 2.0 errors raised by endpoint and grant handlers. The error handler turns each into an
 * RFC 6749 §5.2 response; handlers never write error responses themselves.
 */

/** Options shared by every OAuth error. */
export interface OAuthErrorOptions {
  /**
   * Reason for the developer running the server: stored in the request log and the server log,
   * never sent to the client. May name values that the public description must not.
   */
  detail?: string;
  /** Extra response headers, such as `WWW-Authenticate`. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** Base class: an RFC 6749 §5.2 error code with its HTTP status and public description. */
export class OAuthError extends Error {
  /** The `error` member sent on the wire. */
  readonly error: string;
  readonly statusCode: number;
  /** The `error_description` member; sanitized to the RFC 6749 §5.2 character set when sent. */
  readonly description: string;
  readonly detail: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    error: string,
    statusCode: number,
    description: string,
    options: OAuthErrorOptions = {},
  ) {
    super(description, { cause: options.cause });
    this.name = new.target.name;
    this.error = error;
    this.statusCode = statusCode;
    this.description = description;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}

/** Missing, repeated or malformed parameter, or a subject or actor token that fails validation. */
export class InvalidRequestError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('invalid_request', 400, description, options);
  }
}

/**
 * Client authentication failed. RFC 6749 §5.2 requires 401 with `WWW-Authenticate` when the
 * client used the `Authorization` header. This server sends 401 with the header for every
 * client authentication failure, because RFC 9110 §15.5.2 requires the header on any 401.
 */
export class InvalidClientError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('invalid_client', 401, description, options);
  }
}

export class InvalidGrantError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('invalid_grant', 400, description, options);
  }
}

/** The authenticated client may not use the requested grant type. */
export class UnauthorizedClientError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('unauthorized_client', 400, description, options);
  }
}

export class UnsupportedGrantTypeError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('unsupported_grant_type', 400, description, options);
  }
}

export class InvalidScopeError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('invalid_scope', 400, description, options);
  }
}

/** RFC 8707 §2 and RFC 8693 §2.2.2: an unusable, unknown or malformed `resource` or `audience`. */
export class InvalidTargetError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('invalid_target', 400, description, options);
  }
}

/** RFC 6749 §4.1.2.1: the authorization server does not support the requested `response_type`. */
export class UnsupportedResponseTypeError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('unsupported_response_type', 400, description, options);
  }
}

/** RFC 6750 §3.1: a wrong or malformed bearer token on a protected route. */
export class InvalidTokenError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('invalid_token', 401, description, options);
  }
}

/**
 * RFC 6750 §3.1: a request to a protected route without credentials, or with an authentication
 * scheme other than Bearer. Its `WWW-Authenticate` challenge carries no `error` attribute, as
 * RFC 6750 §3.1 recommends. The JSON body still has `error: "invalid_token"`, because RFC 6750 §3
 * defines error codes only as attributes of the challenge and every error body of this server is
 * an RFC 6749 §5.2 object.
 */
export class MissingBearerTokenError extends InvalidTokenError {}

/** A request for a route that exists, with a method it does not serve. */
export class MethodNotAllowedError extends OAuthError {
  constructor(allowed: readonly string[]) {
    super('invalid_request', 405, `method not allowed, use ${allowed.join(' or ')}`, {
      headers: { allow: allowed.join(', ') },
    });
  }
}

export class NotFoundError extends OAuthError {
  constructor(description: string) {
    super('not_found', 404, description);
  }
}

/** An unexpected failure inside the server; the cause is logged, never sent. */
export class ServerError extends OAuthError {
  constructor(options?: OAuthErrorOptions) {
    super('server_error', 500, 'the server failed to process the request', options);
  }
}
