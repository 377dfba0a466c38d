import type { FetchImplementation } from 'jose';

/**
 * Maximum size of a JWKS fetched from a trusted issuer's `jwksUri`, in bytes (1 MiB), counted
 * after any `Content-Encoding` is decoded. A public 4096-bit RSA JWK takes about 800 bytes, so
 * real key sets stay far below it.
 */
export const MAX_JWKS_BYTES = 1024 * 1024;

/** Time allowed for fetching a JWKS, from the request to the end of its body, in milliseconds. */
export const JWKS_TIMEOUT_MS = 5000;

/** Thrown when a JWKS response has a status other than 200. */
export class JwksFetchError extends Error {
  override name = 'JwksFetchError';
}

/** Thrown when a JWKS response body is larger than {@link MAX_JWKS_BYTES}. */
export class JwksTooLargeError extends Error {
  override name = 'JwksTooLargeError';
}

/**
 * Fetches a JWKS for jose's `createRemoteJWKSet` and reads the body of a 200 response, at most
 * {@link MAX_JWKS_BYTES} of it. A `Content-Length` over the limit fails before the body is read.
 * The decoded bytes are also counted as they arrive, because a chunked response has no
 * `Content-Length`. jose's abort signal still applies while the body is read, so its timeout
 * covers the whole response.
 * @throws JwksFetchError when the status is not 200.
 * @throws JwksTooLargeError when the body is over the limit.
 */
export const fetchJwksWithLimit: FetchImplementation = async (url, options) => {
  const response = await fetch(url, options);
  if (response.status !== 200) {
    // jose would reject it too, but its message leaves out the status, which distinguishes a
    // redirect from a server error.
    await response.body?.cancel();
    throw new JwksFetchError(`the JWKS response has HTTP status ${response.status}, not 200`);
  }
  // The Content-Length of an encoded body counts the bytes before decoding, so only the count
  // below applies to it.
  const encoded = response.headers.has('content-encoding');
  const declared = response.headers.get('content-length');
  if (!encoded && declared !== null && Number(declared) > MAX_JWKS_BYTES) {
    await response.body?.cancel();
    throw new JwksTooLargeError(
      `JWKS too large: Content-Length ${declared} exceeds the limit of ${MAX_JWKS_BYTES} bytes`,
    );
  }
  const body = await readBody(response.body, MAX_JWKS_BYTES);
  return new Response(body, { status: 200 });
};

async function readBody(
  stream: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array> {
  if (stream === null) return new Uint8Array();
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new JwksTooLargeError(`JWKS too large: more than the limit of ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
