/** `grant_type` of RFC 8693 token exchange. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** `grant_type` of the RFC 6749 §4.4 client credentials grant. */
export const CLIENT_CREDENTIALS_GRANT = 'client_credentials';

/** Every grant type the token endpoint serves, the values `clients[].grantTypes` may list. */
export const GRANT_TYPES = [TOKEN_EXCHANGE_GRANT, CLIENT_CREDENTIALS_GRANT] as const;
