/** Token type identifiers registered by RFC 8693 §3. */
export const TokenType = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  saml1: 'urn:ietf:params:oauth:token-type:saml1',
  saml2: 'urn:ietf:params:oauth:token-type:saml2',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const;

/**
 * Subject and actor token types accepted by default. SAML assertions are not, because this
 * server cannot read them; the `subjectTokenTypes` option changes the list.
 */
export const DEFAULT_INPUT_TOKEN_TYPES: readonly string[] = [
  TokenType.accessToken,
  TokenType.refreshToken,
  TokenType.idToken,
  TokenType.jwt,
];

/**
 * Token types the server can issue, with the `token_type` of each (RFC 8693 §2.2.1). A `jwt`
 * is an RFC 9068 access token and usable as one, so it is `Bearer` too.
 */
export const ISSUABLE_TOKEN_TYPES: ReadonlyMap<string, string> = new Map([
  [TokenType.accessToken, 'Bearer'],
  [TokenType.jwt, 'Bearer'],
]);
