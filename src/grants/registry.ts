import type { AuthenticatedClient } from '../client-auth/authenticate.js';
import type { ServerContext } from '../context.js';
import type { FormParameters } from '../http/form.js';

/** An RFC 6749 §5.1 token response; optional members are left out rather than set to null. */
export interface TokenResponse {
  access_token: string;
  issued_token_type?: string;
  token_type: string;
  expires_in?: number;
  scope?: string;
}

/** Outcome of a grant handler: the response, plus the facts the request log records. */
export interface GrantResult {
  response: TokenResponse;
  /** Token type URI of the issued token. */
  issuedTokenType: string;
  /** Granted scope, or `undefined` when none was requested or granted. */
  grantedScope: string | undefined;
  /** Whether the subject and actor token signatures were verified, for the request log. */
  verifiedInputs?: { subject: boolean; actor: boolean };
}

export interface GrantContext {
  parameters: FormParameters;
  client: AuthenticatedClient;
  /** Issuer identifier for this request, the `iss` of issued JWTs. */
  issuer: string;
  server: ServerContext;
}

/** One grant type of the token endpoint, registered under its `grant_type` value. */
export interface GrantHandler {
  readonly grantType: string;
  handle(context: GrantContext): GrantResult | Promise<GrantResult>;
}

/** The grant types the token endpoint serves, keyed by `grant_type`. */
export class GrantRegistry {
  readonly #handlers = new Map<string, GrantHandler>();

  constructor(handlers: readonly GrantHandler[]) {
    for (const handler of handlers) {
      if (this.#handlers.has(handler.grantType)) {
        throw new Error(`grant type ${handler.grantType} is registered twice`);
      }
      this.#handlers.set(handler.grantType, handler);
    }
  }

  /** Looks up a handler; `grant_type` values are compared exactly, case included. */
  get(grantType: string): GrantHandler | undefined {
    return this.#handlers.get(grantType);
  }

  /** Lists the registered `grant_type` values, for discovery metadata. */
  grantTypes(): string[] {
    return [...this.#handlers.keys()];
  }
}
