import { TokenRejection } from './token-rejection.js';

/** The header and claims of a JWT in JWS compact serialization, signature unchecked. */
export interface CompactJws {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/** The base64url alphabet without padding (RFC 7515 §2). */
const BASE64URL = /^[A-Za-z0-9_-]*$/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a JWT in JWS compact serialization (RFC 7515 §7.1, RFC 7519 §7.2) without checking its
 * signature: three base64url parts, a header and a claims set that are JSON objects, and a
 * header with a string `alg`.
 * @throws TokenRejection naming the first defect found.
 */
export function parseCompactJws(token: string): CompactJws {
  const parts = token.split('.');
  if (parts.length === 5) {
    throw new TokenRejection('not a JWS: an encrypted JWT (JWE) cannot be read by this server');
  }
  if (parts.length !== 3) {
    const noun = parts.length === 1 ? 'part' : 'parts';
    throw new TokenRejection(`not a JWT: ${parts.length} dot-separated ${noun} instead of 3`);
  }

  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJsonObject(headerPart, 'header');
  const claims = decodeJsonObject(payloadPart, 'claims set');
  if (!isBase64url(signaturePart)) {
    throw new TokenRejection('not a JWT: the signature is not base64url');
  }
  if (typeof header.alg !== 'string' || header.alg === '') {
    throw new TokenRejection('not a JWT: the header has no alg');
  }
  return { header, claims };
}

function decodeJsonObject(part: string, name: string): Record<string, unknown> {
  if (!isBase64url(part)) throw new TokenRejection(`not a JWT: the ${name} is not base64url`);
  let text: string;
  try {
    text = utf8.decode(Buffer.from(part, 'base64url'));
  } catch {
    throw new TokenRejection(`not a JWT: the ${name} is not UTF-8`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TokenRejection(`not a JWT: the ${name} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenRejection(`not a JWT: the ${name} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Checks the base64url alphabet and a length that encodes whole bytes, which 4n + 1 cannot. */
function isBase64url(part: string): boolean {
  return BASE64URL.test(part) && part.length % 4 !== 1;
}
