/**
 * A subject or actor token that fails validation. The message is the private reason stored in
 * the request log. It may quote claims and header values, but never the token itself.
 * `validateInputToken` turns it into the OAuth error the client receives.
 */
export class TokenRejection extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'TokenRejection';
  }
}

/** Maximum length of a header or claim value quoted in a rejection detail, in characters. */
const MAX_QUOTED_LENGTH = 200;

/** Shortens a header or claim value quoted in a rejection detail. */
export function quoted(value: string): string {
  return value.length > MAX_QUOTED_LENGTH ? `${value.slice(0, MAX_QUOTED_LENGTH)}...` : value;
}
