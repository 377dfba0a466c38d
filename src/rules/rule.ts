import { z } from 'zod';
import { nestingDepth } from '../json-depth.js';

/** RFC 9110 §5.5: a field value is visible ASCII, spaces and tabs; CR and LF never. */
const FIELD_VALUE = /^[\t\x20-\x7E]*$/;

/** A JSON value nesting at most 32 objects and arrays deep, so it always serializes. */
const shallowJson = z.unknown().refine((value) => nestingDepth(value, 32) <= 32, {
  message: 'must nest objects and arrays at most 32 levels deep',
});

/**
 * Builds a schema of a map from names to values, like `z.record`, that keeps a member named
 * `__proto__` as an own member. `z.record` (zod 4.6) skips that name because assigning it would
 * set the prototype, whereas JSON.parse and the YAML parser create it as an own member.
 */
function ownRecord<Key extends z.ZodType<string>, Value extends z.ZodType>(
  keySchema: Key,
  valueSchema: Value,
) {
  const record = z.record(keySchema, valueSchema);
  type Members = z.output<typeof record>;
  return z.custom<z.input<typeof record>>().transform((input, context): Members => {
    const result = record.safeParse(input);
    const protoMember =
      typeof input === 'object' && input !== null
        ? Object.getOwnPropertyDescriptor(input, '__proto__')
        : undefined;
    const protoKey = protoMember && keySchema.safeParse('__proto__');
    const protoValue = protoMember && valueSchema.safeParse(protoMember.value);

    const protoIssues = [...(protoKey?.error?.issues ?? []), ...(protoValue?.error?.issues ?? [])];
    for (const issue of result.error?.issues ?? []) context.addIssue({ ...issue });
    for (const issue of protoIssues) {
      context.addIssue({ ...issue, path: ['__proto__', ...issue.path] });
    }
    if (!result.success || protoIssues.length > 0) return z.NEVER;
    if (!protoValue?.success) return result.data;

    // Object.fromEntries defines own members, so `__proto__` stays a member, in input order.
    return Object.fromEntries(
      Object.keys(input).map((name) => [
        name,
        name === '__proto__' ? protoValue.data : result.data[name],
      ]),
    ) as Members;
  });
}

/**
 * Checks that no header is named `__proto__`. Node.js 20 leaves such a request header out of
 * `request.headers`, and Fastify 5 drops such a response header, so a rule could neither match
 * nor send it.
 */
function withoutProtoHeader(headers: Record<string, string>): boolean {
  return !Object.hasOwn(headers, '__proto__');
}

const PROTO_HEADER_ISSUE = {
  message: 'is not a header name that a rule can match or send',
  path: ['__proto__'],
};

/**
 * Headers a rule may send. Framing headers are refused because a value that disagrees with the
 * body would make Node throw or send a malformed message (RFC 9112 §6.1).
 */
const headersSchema = ownRecord(
  z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name'),
  z.string().regex(FIELD_VALUE, 'must be visible ASCII, spaces and tabs, without CR or LF'),
)
  .refine(withoutProtoHeader, PROTO_HEADER_ISSUE)
  .refine(
    (headers) =>
      !Object.keys(headers).some((name) =>
        ['content-length', 'transfer-encoding', 'connection'].includes(name.toLowerCase()),
      ),
    'must not set Content-Length, Transfer-Encoding or Connection',
  );

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
  claims: ownRecord(z.string().min(1), shallowJson).optional(),
  /** Request headers, by case-insensitive name, each equal to the given value. */
  headers: ownRecord(z.string().min(1), z.string())
    .refine(withoutProtoHeader, PROTO_HEADER_ISSUE)
    .optional(),
});

/** Action of a rule when it fires. */
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
    contentType: z
      .string()
      .min(1)
      .regex(FIELD_VALUE, 'must be visible ASCII, spaces and tabs, without CR or LF')
      .default('text/plain; charset=utf-8'),
    body: z.string().default(''),
    headers: headersSchema.optional(),
  }),
  /** A delay before the normal response, in milliseconds. */
  z.strictObject({
    type: z.literal('delay'),
    ms: z.number().int().min(0).max(120_000),
  }),
  /** Closing the connection without a response. */
  z.strictObject({ type: z.literal('close') }),
  /** No response at all: the connection stays open until the client or the server closes it. */
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
    addMembers: ownRecord(z.string().min(1), shallowJson).optional(),
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
    .regex(
      /^(?!\.+$)[A-Za-z0-9._~-]{1,64}$/,
      'must be 1 to 64 of A-Z a-z 0-9 . _ ~ -, not only dots',
    )
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
