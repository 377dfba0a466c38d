import { InvalidScopeError } from '../errors.js';

/** RFC 6749 §3.3: one scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** RFC 6749 §3.3: scope-tokens joined by single spaces. */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;

/**
 * Parses a `scope` parameter into its tokens, in request order with duplicates removed.
 * @throws InvalidScopeError when the value breaks the RFC 6749 §3.3 syntax.
 */
export function parseScope(scope: string): string[] {
  if (!SCOPE.test(scope)) {
    throw new InvalidScopeError('scope must be scope tokens separated by single spaces', {
      detail:
        'a scope token is one or more printable ASCII characters other than space, double quote and backslash',
    });
  }
  return [...new Set(scope.split(' '))];
}
