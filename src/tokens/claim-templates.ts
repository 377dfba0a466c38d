/** Values that the placeholders of configured claims are replaced with. */
export interface ClaimTemplateValues {
  /** The issued token's `sub`. */
  sub: string;
  /** The authenticated client's id. */
  client_id: string;
  /** The first requested target, or the issuer when the request names none. */
  aud: string;
  /** The granted scope, or the empty string when none is granted. */
  scope: string;
}

const PLACEHOLDER = /\{(sub|client_id|aud|scope)\}/g;

/**
 * Replaces `{sub}`, `{client_id}`, `{aud}` and `{scope}` in every string of the claim values,
 * including strings nested in arrays and objects. Claim names are kept as written, and so is
 * any other text in braces. The replacement is a single pass, so a value that itself contains a
 * placeholder, such as a `sub` of `{scope}`, is inserted as it is.
 */
export function expandClaimTemplates(
  claims: Readonly<Record<string, unknown>>,
  values: ClaimTemplateValues,
): Record<string, unknown> {
  // Object.fromEntries defines own properties, so a claim named `__proto__` stays a claim.
  return Object.fromEntries(
    Object.entries(claims).map(([name, value]) => [name, expandValue(value, values)]),
  );
}

function expandValue(value: unknown, values: ClaimTemplateValues): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_match, name: keyof ClaimTemplateValues) => values[name]);
  }
  if (Array.isArray(value)) return value.map((item) => expandValue(item, values));
  if (value !== null && typeof value === 'object') {
    return expandClaimTemplates(value as Record<string, unknown>, values);
  }
  return value;
}
