import { z } from 'zod';
import { CLIENT_AUTH_METHODS } from '../client-auth/authenticate.js';
import { GRANT_TYPES } from '../grants/grant-types.js';
import { SCOPE_TOKEN } from '../grants/scope.js';
import { issuerPathProblem } from '../http/issuer.js';
import { ruleSchema } from '../rules/rule.js';
import { DEFAULT_INPUT_TOKEN_TYPES } from '../tokens/token-types.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** RFC 3986 §3.1 scheme followed by a colon, the start of every absolute URI. */
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/;

export const TOKEN_FORMATS = ['opaque', 'jwt'] as const;
export const SIGNING_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
export const VALIDATION_MODES = ['none', 'jwt', 'verify'] as const;

/**
 * Extra claims added to issued JWTs; they never replace the registered claims. Strings may hold
 * the placeholders of `src/tokens/claim-templates.ts`.
 */
const claimsSchema = z.record(z.string().min(1), z.unknown());

/** Lifetime of issued tokens in seconds, sent as `expires_in`. */
const tokenTtlSchema = z.number().int().min(1).max(31_536_000);

export const SCOPE_POLICIES = ['reject', 'narrow'] as const;

/** Handling of requested scopes beyond those an audience allows. */
const scopePolicySchema = z.enum(SCOPE_POLICIES);

const clientSchema = z
  .strictObject({
    /** The `client_id` the client sends. */
    clientId: z.string().min(1),
    /** Secret for `client_secret_basic` and `client_secret_post`; a client without one is public. */
    clientSecret: z.string().min(1).optional(),
    /** Format of tokens issued to this client; overrides the global `tokenFormat`. */
    tokenFormat: z.enum(TOKEN_FORMATS).optional(),
    /** Extra claims in JWTs issued to this client. */
    claims: claimsSchema.optional(),
    /**
     * Client authentication methods the client may use. By default both secret methods for a
     * client with a secret, and `none` for one without.
     */
    authMethods: z.array(z.enum(CLIENT_AUTH_METHODS)).min(1).optional(),
    /** Grant types the client may use; every registered one by default. */
    grantTypes: z.array(z.enum(GRANT_TYPES)).min(1).optional(),
    /** Whether the client is public (RFC 6749 §2.1); by default, when it has no secret. */
    public: z.boolean().optional(),
    /** `audience` values the client may request; any when absent. */
    audiences: z.array(z.string().min(1)).optional(),
    /** `resource` values the client may request; any when absent. */
    resources: z.array(z.string().min(1)).optional(),
    /** Lifetime of tokens issued to this client; overrides the global `tokenTtl`. */
    tokenTtl: tokenTtlSchema.optional(),
  })
  .superRefine((client, context) => {
    const hasSecret = client.clientSecret !== undefined;
    if (client.public === true && hasSecret) {
      context.addIssue({
        code: 'custom',
        path: ['public'],
        message: 'a public client must not have a clientSecret',
        input: client.public,
      });
    }
    if (client.public === false && !hasSecret) {
      context.addIssue({
        code: 'custom',
        path: ['public'],
        message: 'a confidential client needs a clientSecret',
        input: client.public,
      });
    }
    // A public client cannot prove a secret, and a confidential one must (RFC 6749 §2.3.1).
    for (const [index, method] of (client.authMethods ?? []).entries()) {
      if (hasSecret === (method === 'none')) {
        context.addIssue({
          code: 'custom',
          path: ['authMethods', index],
          message: hasSecret
            ? 'a client with a clientSecret must authenticate with it, not by none'
            : 'a client without a clientSecret can only use none',
          input: method,
        });
      }
    }
  });

/** Settings for one audience or resource value, keyed by that value. */
const audienceSchema = z.strictObject({
  /** Format of tokens issued for this audience; overrides the client's and the global one. */
  tokenFormat: z.enum(TOKEN_FORMATS).optional(),
  /** Extra claims in JWTs issued for this audience. */
  claims: claimsSchema.optional(),
  /** Scopes a token for this target may carry; any when absent. */
  scopes: z.array(z.string().regex(SCOPE_TOKEN, 'must be an RFC 6749 §3.3 scope token')).optional(),
  /** Policy for requested scopes beyond `scopes`; overrides the global `scopePolicy`. */
  scopePolicy: scopePolicySchema.optional(),
  /** Lifetime of tokens issued for this target; overrides the client's and the global one. */
  tokenTtl: tokenTtlSchema.optional(),
});

/** An issuer whose tokens are accepted as subject or actor tokens in `verify` mode. */
const trustedIssuerSchema = z
  .strictObject({
    /** The `iss` claim of its tokens, compared exactly. */
    issuer: z.string().min(1),
    /** URL of its JWKS, fetched with a 5 s timeout. A JWKS larger than 1 MiB is rejected. */
    jwksUri: z.url().optional(),
    /** Path of a file holding its public JWKS. */
    jwksFile: z.string().min(1).optional(),
    /** Its public keys, inline. */
    keys: z.array(z.record(z.string(), z.unknown())).min(1).optional(),
  })
  .refine(
    (issuer) =>
      [issuer.jwksUri, issuer.jwksFile, issuer.keys].filter((source) => source !== undefined)
        .length === 1,
    { message: 'set exactly one of jwksUri, jwksFile and keys' },
  );

const subjectTokensSchema = z.strictObject({
  /**
   * Validation mode of subject and actor tokens: `none` accepts any non-empty string and decodes
   * JWTs for their claims, `jwt` requires a well-formed JWT, and `verify` checks the signature,
   * `iss`, `exp` and `nbf`.
   */
  validation: z.enum(VALIDATION_MODES).default('none'),
  /** Issuers trusted in `verify` mode besides this server itself. */
  trustedIssuers: z.array(trustedIssuerSchema).default([]),
  /** Clock skew allowed when checking `exp` and `nbf` in `verify` mode, in seconds. */
  clockSkew: z.number().int().min(0).max(600).default(30),
  /** In `verify` mode, require the authenticated client to be in the subject token's `aud`. */
  requireClientInAudience: z.boolean().default(false),
  /**
   * Error code for a subject or actor token that fails validation or that policy rejects
   * (`may_act`, a malformed or too deep `act`). RFC 8693 §2.2.2 requires `invalid_request`, but
   * many servers send `invalid_grant`.
   */
  errorCode: z.enum(['invalid_request', 'invalid_grant']).default('invalid_request'),
});

const delegationSchema = z.strictObject({
  /** Deepest `act` chain an issued token may carry (RFC 8693 §4.1). */
  maxDepth: z.number().int().min(1).max(32).default(5),
  /**
   * Without an actor token, name the authenticated client as the actor (`act.sub`) instead of
   * issuing an impersonation token without `act`.
   */
  clientAsActor: z.boolean().default(false),
});

const keysSchema = z.strictObject({
  /** Algorithm of the key generated at startup when no `file` is given. */
  algorithm: z.enum(SIGNING_ALGORITHMS).default('RS256'),
  /** Path of a private JWKS to load instead of generating a key. */
  file: z.string().min(1).optional(),
  /** `kid` of the key that signs; the first key of the file by default. */
  activeKeyId: z.string().min(1).optional(),
});

const requestLogSchema = z.strictObject({
  /**
   * Capacity of the request log ring buffer; the oldest entry is dropped when it is full. An
   * entry takes about 1 KiB for a typical exchange and at most about `bodyLimit` bytes.
   */
  maxEntries: z.number().int().min(1).max(100_000).default(1000),
  /**
   * Stores subject, actor and issued tokens in clear in the request log. Off by default,
   * because the log is readable over HTTP.
   */
  unsafeIncludeTokens: z.boolean().default(false),
});

/**
 * The server's settings, with their defaults. Unknown keys are rejected so that a misspelt
 * option fails loudly instead of being ignored.
 */
export const configSchema = z
  .strictObject({
    /** TCP port; 0 picks a free port. */
    port: z.number().int().min(0).max(65535).default(9999),
    /** Interface to listen on; loopback by default so the server is not reachable from outside. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Lifetime of issued tokens in seconds, sent as `expires_in`. */
    tokenTtl: tokenTtlSchema.default(3600),
    /** Level of the pino server log. */
    logLevel: z.enum(LOG_LEVELS).default('info'),
    /**
     * Bearer token required on `/log` and every `/admin` route when set; RFC 6750 §2.1 b64token
     * characters only.
     */
    adminToken: z
      .string()
      .regex(/^[A-Za-z0-9\-._~+/]+=*$/, 'must use only the characters A-Z a-z 0-9 - . _ ~ + / =')
      .optional(),
    /**
     * Registered clients. When absent, any client id and secret is accepted; when present, only
     * these clients authenticate.
     */
    clients: z.array(clientSchema).optional(),
    /** Request log settings. */
    requestLog: requestLogSchema.prefault({}),
    /**
     * Seconds a client may take to send a whole request, and that shutdown waits for requests
     * in flight before it closes their connections.
     */
    requestTimeout: z.number().int().min(1).max(3600).default(30),
    /** Maximum request body size in bytes; a larger body gets 413. */
    bodyLimit: z.number().int().min(1024).max(10_485_760).default(65_536),
    /** Maximum number of `audience` plus `resource` values in one exchange (RFC 8693 §2.1.1). */
    maxTargets: z.number().int().min(1).max(1000).default(20),
    /** Token type URIs accepted as `subject_token_type` and `actor_token_type`. */
    subjectTokenTypes: z
      .array(z.string().regex(ABSOLUTE_URI, 'must be an absolute URI'))
      .min(1)
      .default([...DEFAULT_INPUT_TOKEN_TYPES]),
    /**
     * Issuer identifier (RFC 8414 §2), such as `http://127.0.0.1:9999`. Without it, the issuer
     * is derived from each request's `Host` header.
     */
    issuer: z
      .url({ protocol: /^https?$/ })
      .refine((value) => !/[?#]/.test(value), 'must have no query or fragment')
      .superRefine((value, context) => {
        const problem = issuerPathProblem(value);
        if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    /** Derive the issuer from `X-Forwarded-Proto` and `X-Forwarded-Host` when they are sent. */
    trustProxy: z.boolean().default(false),
    /** Format of issued access tokens: the deterministic `opaque` string or a signed `jwt`. */
    tokenFormat: z.enum(TOKEN_FORMATS).default('opaque'),
    /** Signing keys of issued JWTs. */
    keys: keysSchema.prefault({}),
    /** Extra claims in every issued JWT. */
    claims: claimsSchema.default({}),
    /** Settings per audience or resource value. */
    audiences: z.record(z.string().min(1), audienceSchema).default({}),
    /**
     * Handling of requested scopes that an audience's `scopes` do not allow: `reject` them
     * with `invalid_scope`, or `narrow` the grant to the allowed ones.
     */
    scopePolicy: scopePolicySchema.default('reject'),
    /** Validation of subject and actor tokens. */
    subjectTokens: subjectTokensSchema.prefault({}),
    /** Delegation (`act`) settings. */
    delegation: delegationSchema.prefault({}),
    /** Capacity of the index of issued opaque tokens and of the revocation list. */
    tokenIndexSize: z.number().int().min(1).max(1_000_000).default(10_000),
    /** Scripted responses and faults of the token endpoint, checked in order. */
    rules: z.array(ruleSchema).max(1000).default([]),
    /** Realm named in `WWW-Authenticate` challenges. */
    realm: z
      .string()
      .regex(
        /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/,
        'must be printable ASCII without quotes or backslashes',
      )
      .default('mock-token-exchange-server'),
  })
  .superRefine((config, context) => {
    const ruleIds = new Set<string>();
    for (const [index, rule] of config.rules.entries()) {
      if (rule.id === undefined) continue;
      if (ruleIds.has(rule.id)) {
        context.addIssue({
          code: 'custom',
          path: ['rules', index, 'id'],
          message: 'duplicate rule id',
          input: rule.id,
        });
      }
      ruleIds.add(rule.id);
    }
    const seen = new Set<string>();
    for (const [index, client] of (config.clients ?? []).entries()) {
      if (seen.has(client.clientId)) {
        context.addIssue({
          code: 'custom',
          path: ['clients', index, 'clientId'],
          message: 'duplicate client id',
          input: client.clientId,
        });
      }
      seen.add(client.clientId);
    }
  });

/** Settings as a user writes them: every key optional. */
export type ConfigInput = z.input<typeof configSchema>;
/** Settings after validation, with every default applied. */
export type Config = Readonly<z.output<typeof configSchema>>;
export type ClientConfig = z.output<typeof clientSchema>;
