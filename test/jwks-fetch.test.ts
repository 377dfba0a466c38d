import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_JWKS_BYTES } from '../src/validation/jwks-fetch.js';
import type { TestServer } from './helpers.js';
import {
  exchangeSubject,
  expectRejected,
  NOW,
  publicJwk,
  signToken,
  startVerifyServer,
} from './subject-tokens.js';
import { expectTokenResponse } from './token-assertions.js';

const OTHER_ISSUER = 'https://idp.example';
const JWKS = JSON.stringify({ keys: [publicJwk('other-issuer-es256')] });
const CHUNK_BYTES = 64 * 1024;

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

const jwksServers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    jwksServers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

/** Serves every request with `handler` on a free loopback port and returns the JWKS URL. */
async function startJwksServer(handler: Handler): Promise<string> {
  const server = createHttpServer(handler);
  jwksServers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}/jwks.json`;
}

/** Returns the JWKS followed by spaces up to `size` bytes, which is still valid JSON. */
function paddedJwks(size: number): Buffer {
  return Buffer.from(JWKS.padEnd(size, ' '));
}

/** Sends `body` with a `Content-Length`. */
function sendWithLength(body: Buffer): Handler {
  return (_request, response) => {
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': String(body.byteLength),
    });
    response.end(body);
  };
}

/** Sends `body` in chunks of {@link CHUNK_BYTES}, with no `Content-Length`. */
function sendChunked(body: Buffer): Handler {
  return (_request, response) => {
    response.writeHead(200, {
      'content-type': 'application/json',
      'transfer-encoding': 'chunked',
    });
    for (let offset = 0; offset < body.byteLength; offset += CHUNK_BYTES) {
      response.write(body.subarray(offset, offset + CHUNK_BYTES));
    }
    response.end();
  };
}

async function startTrustingServer(jwksUri: string): Promise<TestServer> {
  return startVerifyServer({
    subjectTokens: { trustedIssuers: [{ issuer: OTHER_ISSUER, jwksUri }] },
  });
}

async function issuerToken(): Promise<string> {
  const claims = { iss: OTHER_ISSUER, sub: 'user-42', iat: NOW, exp: NOW + 3600 };
  return signToken(claims, { key: 'other-issuer-es256' });
}

function fetchFailure(jwksUri: string, reason: string): string {
  return `the JWKS of issuer ${OTHER_ISSUER} could not be fetched from ${jwksUri}: ${reason}`;
}

describe('JWKS size limit', () => {
  it('accepts JWKS of exactly the limit', async () => {
    const jwksUri = await startJwksServer(sendWithLength(paddedJwks(MAX_JWKS_BYTES)));
    const server = await startTrustingServer(jwksUri);

    const body = await expectTokenResponse(await exchangeSubject(server, await issuerToken()));

    expect(decodeJwt(body.access_token as string).sub).toBe('user-42');
  });

  it('accepts chunked JWKS of exactly the limit', async () => {
    const jwksUri = await startJwksServer(sendChunked(paddedJwks(MAX_JWKS_BYTES)));
    const server = await startTrustingServer(jwksUri);

    const body = await expectTokenResponse(await exchangeSubject(server, await issuerToken()));

    expect(decodeJwt(body.access_token as string).sub).toBe('user-42');
  });

  it('rejects Content-Length over the limit', async () => {
    const jwksUri = await startJwksServer(sendWithLength(paddedJwks(MAX_JWKS_BYTES + 1)));
    const server = await startTrustingServer(jwksUri);

    const response = await exchangeSubject(server, await issuerToken());

    await expectRejected(
      server,
      response,
      fetchFailure(
        jwksUri,
        'JWKS too large: Content-Length 1048577 exceeds the limit of 1048576 bytes',
      ),
    );
  });

  it('rejects chunked body over the limit', async () => {
    const jwksUri = await startJwksServer(sendChunked(paddedJwks(MAX_JWKS_BYTES + 1)));
    const server = await startTrustingServer(jwksUri);

    const response = await exchangeSubject(server, await issuerToken());

    await expectRejected(
      server,
      response,
      fetchFailure(jwksUri, 'JWKS too large: more than the limit of 1048576 bytes'),
    );
  });

  it('rejects gzip body decoding over the limit', async () => {
    const compressed = gzipSync(paddedJwks(MAX_JWKS_BYTES + 1));
    const jwksUri = await startJwksServer((_request, response) => {
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': String(compressed.byteLength),
      });
      response.end(compressed);
    });
    const server = await startTrustingServer(jwksUri);

    const response = await exchangeSubject(server, await issuerToken());

    expect(compressed.byteLength).toBeLessThan(MAX_JWKS_BYTES);
    await expectRejected(
      server,
      response,
      fetchFailure(jwksUri, 'JWKS too large: more than the limit of 1048576 bytes'),
    );
  });

  it('fetches again after a rejection', async () => {
    let requests = 0;
    const jwksUri = await startJwksServer((request, response) => {
      requests += 1;
      const size = requests === 1 ? MAX_JWKS_BYTES + 1 : JWKS.length;
      sendChunked(paddedJwks(size))(request, response);
    });
    const server = await startTrustingServer(jwksUri);

    const rejected = await exchangeSubject(server, await issuerToken());
    const accepted = await exchangeSubject(server, await issuerToken());

    expect(rejected.status).toBe(400);
    expect(accepted.status).toBe(200);
    expect(requests).toBe(2);
  });
});

describe('JWKS fetch timeout', () => {
  it('times out a stalled body', async () => {
    const jwksUri = await startJwksServer((_request, response) => {
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(JWKS.length),
      });
      // Half the JWKS and then nothing, so only the 5 s timeout ends the fetch.
      response.write(JWKS.slice(0, JWKS.length / 2));
    });
    const server = await startTrustingServer(jwksUri);
    const started = performance.now();

    const response = await exchangeSubject(server, await issuerToken());

    await expectRejected(server, response, fetchFailure(jwksUri, 'timed out'));
    expect(performance.now() - started).toBeGreaterThanOrEqual(4900);
  });
});
