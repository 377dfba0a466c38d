import { z } from 'zod';

/**
 * Conditions of a rule; every condition given must hold. Values are compared exactly.
 */
export const ruleMatchSchema = z.strictObject({
  /** The request's `grant_type`. */
  grantType: z.string().min(1).optional(),
  /** The client id the request claims. */
  clientId: z.string().min(1).optional(),
  /** One of the request's `audience` values. */
  audience: z.string().min(1).optional(),
  /** One of the request's `resource` values. */
  resource: z.string().min(1).optional(),
  /** One scope token of the request's `scope`. */
  scope: z.string().min(1).optional(),
  /** The subject token's `sub` claim. */
  subject: z.string().min(1).optional(),
  /** Other claims of the subject token, each equal to the given JSON value. */
  claims: z.record(z.string().min(1), z.unknown()).optional(),
  /** Request headers, by case-insensitive name, each equal to the given value. */
  headers: z.record(z.string().min(1), z.string()).optional(),
});

const headersSchema = z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/), z.string());

/** What a rule does when it fires. */
export const ruleActionSchema = z.discriminatedUnion('type', [
  /** An OAuth error response (RFC 6749 §5.2) with any code, status and headers. */
  z.strictObject({
    type: z.literal('error'),
    error: z.string().regex(/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/),
    description: z
      .string()
      .regex(/^[\x20\x21\x23-\x5B\x5D-\x7E]*$/)
      .optional(),
    status: z.number().int().min(400).max(599).default(400),
    headers: headersSchema.optional(),
  }),
  /** A raw HTTP response, such as an HTML 502 page or invalid JSON. */
  z.strictObject({
    type: z.literal('response'),
    status: z.number().int().min(200).max(599),
    contentType: z.string().min(1).default('text/plain; charset=utf-8'),
    body: z.string().default(''),
    headers: headersSchema.optional(),
  }),
  /** A delay before the normal answer, in milliseconds. */
  z.strictObject({
    type: z.literal('delay'),
    ms: z.number().int().min(0).max(120_000),
  }),
  /** Closing the connection without answering. */
  z.strictObject({ type: z.literal('close') }),
  /** Never answering; the connection stays open until the client or the server closes it. */
  z.strictObject({ type: z.literal('hang') }),
  /** A changed success response. */
  z.strictObject({
    type: z.literal('modify'),
    /** `omit` leaves `expires_in` out, `string` sends it as a JSON string, a number replaces it. */
    expiresIn: z.union([z.literal('omit'), z.literal('string'), z.number().int()]).optional(),
    /** Replaces `token_type`, e.g. `bearer` or `N_A`. */
    tokenType: z.string().optional(),
    /** Leaves `issued_token_type` out. */
    omitIssuedTokenType: z.boolean().optional(),
    /** Adds members to the response body. */
    addMembers: z.record(z.string().min(1), z.unknown()).optional(),
    /** Issues a token that has already expired. */
    expired: z.boolean().optional(),
    /** Issues the token for this audience instead of the requested one. */
    audience: z.string().min(1).optional(),
  }),
]);

/** A scripted response or fault for the token endpoint. */
export const ruleSchema = z.strictObject({
  /** Name of the rule, shown in the request log; generated when absent. */
  id: z
    .string()
    .regex(/^[A-Za-z0-9._~-]{1,64}$/)
    .optional(),
  match: ruleMatchSchema.default({}),
  action: ruleActionSchema,
  /** Fires at most this many times; unlimited when absent. */
  times: z.number().int().min(1).optional(),
});

export type RuleInput = z.input<typeof ruleSchema>;
export type Rule = z.output<typeof ruleSchema> & { id: string };
export type RuleMatch = z.output<typeof ruleMatchSchema>;
export type RuleAction = z.output<typeof ruleActionSchema>;
