import { InvalidTargetError } from '../errors.js';
import type { FormParameters } from '../http/form.js';

/** RFC 3986 §4.3 absolute URI: a scheme, a colon, and no whitespace or control characters. */
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1F\x7F]+$/;

/**
 * Checks the `resource` values of a request.
 * @throws InvalidTargetError when one is not an absolute URI or has a fragment (RFC 8707 §2,
 * RFC 8693 §2.1).
 */
export function validateResources(resources: readonly string[]): void {
  for (const [index, resource] of resources.entries()) {
    const position = resources.length > 1 ? ` (value ${index + 1})` : '';
    checkLength('resource', resource, position);
    if (!ABSOLUTE_URI.test(resource) || !URL.canParse(resource)) {
      throw new InvalidTargetError(`resource must be an absolute URI${position}`, {
        detail: `resource ${JSON.stringify(truncate(resource))} is not an absolute URI`,
      });
    }
    if (resource.includes('#')) {
      throw new InvalidTargetError(`resource must not contain a fragment${position}`, {
        detail: `resource ${JSON.stringify(truncate(resource))} has a fragment`,
      });
    }
  }
}

/** Longest `audience` or `resource` value accepted, in characters. */
export const MAX_TARGET_LENGTH = 2048;

/**
 * Checks the `audience` values of a request. An audience is any logical name (RFC 8693 §2.1),
 * but it ends up in the issued token, so control characters and overlong values are rejected.
 * @throws InvalidTargetError naming the offending value's position.
 */
export function validateAudiences(audiences: readonly string[]): void {
  for (const [index, audience] of audiences.entries()) {
    const position = audiences.length > 1 ? ` (value ${index + 1})` : '';
    if (/[\x00-\x1F\x7F]/.test(audience)) {
      throw new InvalidTargetError(`audience must not contain control characters${position}`);
    }
    checkLength('audience', audience, position);
  }
}

function checkLength(name: string, value: string, position: string): void {
  if (value.length > MAX_TARGET_LENGTH) {
    throw new InvalidTargetError(
      `${name} is longer than ${MAX_TARGET_LENGTH} characters${position}`,
    );
  }
}

/**
 * Checks how many targets a request names in all.
 * @throws InvalidTargetError when there are more than `max` (RFC 8693 §2.1.1 lets a server
 * refuse too many).
 */
export function limitTargets(count: number, max: number): void {
  if (count > max) {
    throw new InvalidTargetError(`too many audience and resource values, at most ${max}`, {
      detail: `the request names ${count} targets`,
    });
  }
}

/**
 * Reads `audience` and `resource`, both repeatable (RFC 8693 §2.1, RFC 8707 §2), de-duplicated
 * in order.
 * @throws InvalidTargetError when a value is invalid or there are more than `maxTargets`.
 */
export function readTargets(parameters: FormParameters, maxTargets: number) {
  const audiences = [...new Set(parameters.all('audience'))];
  const resources = [...new Set(parameters.all('resource'))];
  limitTargets(audiences.length + resources.length, maxTargets);
  validateAudiences(audiences);
  validateResources(resources);
  return { audiences, resources };
}

/** Shortens a value quoted in a log detail. */
export function truncate(value: string, max = 200): string {
  return value.length > max ? `${value.slice(0, max)}...` : value;
}
