import { sha256Hex } from './sha256.js';

/** Inputs of an exchange that determine the opaque token issued for it. */
export interface OpaqueTokenInput {
  clientId: string;
  subjectToken: string;
  subjectTokenType: string;
  actorToken: string | undefined;
  actorTokenType: string | undefined;
  audiences: readonly string[];
  resources: readonly string[];
  scopes: readonly string[];
  requestedTokenType: string;
}

/** Version tag at the head of the hashed input; changing the encoding means a new tag. */
const ENCODING_VERSION = 'v1';

/** Number of hex characters of the SHA-256 digest kept in the token. */
const HASH_LENGTH = 16;

/**
 * Builds the canonical input that is hashed: a JSON array of the exchange parameters in a
 * fixed order, with absent values as `null`. Audiences, resources and scopes are sets on the
 * wire, so they are de-duplicated and sorted by UTF-16 code unit, and their order in the request
 * does not change the hash.
 */
export function canonicalExchangeInput(input: OpaqueTokenInput): string {
  return JSON.stringify([
    ENCODING_VERSION,
    input.clientId,
    input.subjectToken,
    input.subjectTokenType,
    input.actorToken ?? null,
    input.actorTokenType ?? null,
    sortedSet(input.audiences),
    sortedSet(input.resources),
    sortedSet(input.scopes),
    input.requestedTokenType,
  ]);
}

/**
 * Issues the deterministic opaque token `exchanged-<hash>-for-<targets>`, where `<hash>` is the
 * first 16 hex characters of the SHA-256 digest of {@link canonicalExchangeInput} and
 * `<targets>` lists the sorted audiences, then the sorted resources, joined by commas. The order
 * of targets in the request therefore changes nothing. A request without a target gets
 * `exchanged-<hash>`. Characters outside printable ASCII, and spaces, are percent-encoded as
 * UTF-8, because RFC 6749 Appendix A.12 allows only %x20-7E in an access token and a space
 * would break an `Authorization` header.
 */
export function issueOpaqueToken(input: OpaqueTokenInput): string {
  return deterministicToken(
    'exchanged',
    canonicalExchangeInput(input),
    input.audiences,
    input.resources,
  );
}

/** Inputs of a client credentials grant that determine the opaque token issued for it. */
export interface ClientCredentialsTokenInput {
  clientId: string;
  audiences: readonly string[];
  resources: readonly string[];
  scopes: readonly string[];
}

/**
 * Builds the canonical input hashed for a client credentials grant:
 * `["v1", "client_credentials", client_id, audiences, resources, scopes]`, with the three lists
 * de-duplicated and sorted as in {@link canonicalExchangeInput}.
 */
export function canonicalClientCredentialsInput(input: ClientCredentialsTokenInput): string {
  return JSON.stringify([
    ENCODING_VERSION,
    'client_credentials',
    input.clientId,
    sortedSet(input.audiences),
    sortedSet(input.resources),
    sortedSet(input.scopes),
  ]);
}

/**
 * Issues the deterministic opaque token of a client credentials grant,
 * `issued-<hash>-for-<targets>`, built as {@link issueOpaqueToken} builds its token but from
 * {@link canonicalClientCredentialsInput}. The different prefix distinguishes the two grants.
 */
export function issueClientCredentialsToken(input: ClientCredentialsTokenInput): string {
  return deterministicToken(
    'issued',
    canonicalClientCredentialsInput(input),
    input.audiences,
    input.resources,
  );
}

/** Builds `<prefix>-<hash>-for-<targets>`, or `<prefix>-<hash>` when there is no target. */
function deterministicToken(
  prefix: string,
  canonicalInput: string,
  audiences: readonly string[],
  resources: readonly string[],
): string {
  const digest = sha256Hex(canonicalInput);
  const hash = digest.slice(0, HASH_LENGTH);
  const targets = [...sortedSet(audiences), ...sortedSet(resources)];
  if (targets.length === 0) return `${prefix}-${hash}`;
  return `${prefix}-${hash}-for-${targets.map(encodeTokenCharacters).join(',')}`;
}

function sortedSet(values: readonly string[]): string[] {
  if (values.length < 2) return [...values];
  return [...new Set(values)].sort();
}

/** Percent-encodes, as UTF-8 bytes, every character outside %x21-7E. */
function encodeTokenCharacters(target: string): string {
  return target.replace(/[^\x21-\x7E]/gu, (character) =>
    [...Buffer.from(character, 'utf8')]
      .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
      .join(''),
  );
}
