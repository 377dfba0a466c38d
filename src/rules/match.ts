import type { IncomingHttpHeaders } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { claimedClient } from '../client-auth/authenticate.js';
import type { FormParameters } from '../http/form.js';
import { decodeClaims } from '../tokens/decode.js';
import type { Rule } from './rule.js';

/**
 * Facts of a token request that rules can match. Everything is read leniently and without
 * verification (the first of repeated values, the claimed rather than the authenticated client,
 * an unverified subject token), so that a rule fires for a request that would fail validation.
 */
export interface RequestFacts {
  grantType: string | undefined;
  /** The client id from Basic credentials or the body, before authentication. */
  clientId: string | undefined;
  audiences: readonly string[];
  resources: readonly string[];
  /** The space-separated tokens of the first `scope` value. */
  scopes: readonly string[];
  /** Claims of the subject token when it is a JWT, decoded without verification. */
  subjectClaims: Record<string, unknown> | undefined;
  headers: IncomingHttpHeaders;
}

/** Gathers the facts of a token request once its form body is parsed. */
export function requestFacts(
  headers: IncomingHttpHeaders,
  parameters: FormParameters,
): RequestFacts {
  const scope = parameters.all('scope')[0];
  const subjectToken = parameters.all('subject_token')[0];
  return {
    grantType: parameters.all('grant_type')[0],
    clientId: claimedClient(headers.authorization, parameters).clientId,
    audiences: parameters.all('audience'),
    resources: parameters.all('resource'),
    scopes: scope === undefined ? [] : scope.split(' ').filter((token) => token !== ''),
    subjectClaims: subjectToken === undefined ? undefined : decodeClaims(subjectToken),
    headers,
  };
}

/** Checks whether every condition of a rule holds for a request; a rule without any always matches. */
export function matches(rule: Rule, facts: RequestFacts): boolean {
  const { match } = rule;
  if (match.grantType !== undefined && facts.grantType !== match.grantType) return false;
  if (match.clientId !== undefined && facts.clientId !== match.clientId) return false;
  if (match.audience !== undefined && !facts.audiences.includes(match.audience)) return false;
  if (match.resource !== undefined && !facts.resources.includes(match.resource)) return false;
  if (match.scope !== undefined && !facts.scopes.includes(match.scope)) return false;
  if (match.subject !== undefined && facts.subjectClaims?.sub !== match.subject) return false;
  if (match.claims !== undefined && !claimsMatch(match.claims, facts.subjectClaims)) return false;
  if (match.headers !== undefined && !headersMatch(match.headers, facts.headers)) return false;
  return true;
}

/** Compares each expected claim with the token's as JSON values, so objects and arrays compare by content. */
function claimsMatch(
  expected: Record<string, unknown>,
  claims: Record<string, unknown> | undefined,
): boolean {
  if (claims === undefined) return false;
  return Object.entries(expected).every(
    ([name, value]) => Object.hasOwn(claims, name) && isDeepStrictEqual(claims[name], value),
  );
}

/**
 * Compares header values exactly. Names are case-insensitive (RFC 9110 §5.1). A header that
 * Node keeps as a list, such as a repeated `Set-Cookie`, matches when any one value is equal.
 */
function headersMatch(expected: Record<string, string>, headers: IncomingHttpHeaders): boolean {
  return Object.entries(expected).every(([name, value]) => {
    const actual = headers[name.toLowerCase()];
    return Array.isArray(actual) ? actual.includes(value) : actual === value;
  });
}
