import { z } from 'zod';
import { DEFAULT_INPUT_TOKEN_TYPES } from '../tokens/token-types.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** RFC 3986 §3.1 scheme followed by a colon, the start of every absolute URI. */
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/;

const clientSchema = z.strictObject({
  /** The `client_id` the client sends. */
  clientId: z.string().min(1),
  /** Secret for `client_secret_basic` and `client_secret_post`; a client without one is public. */
  clientSecret: z.string().min(1).optional(),
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
    tokenTtl: z.number().int().min(1).max(31_536_000).default(3600),
    /** Level of the pino server log. */
    logLevel: z.enum(LOG_LEVELS).default('info'),
    /** Bearer token required on `/log` when set; RFC 6750 §2.1 b64token characters only. */
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
