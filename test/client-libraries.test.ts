import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import * as openid from 'openid-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerOptions } from '../src/server.js';
import {
  ACCESS_TOKEN_TYPE,
  exchangeBody,
  FROZEN_TIME,
  startServer,
  type TestServer,
  TOKEN_EXCHANGE,
  UNSIGNED_USER_JWT,
} from './helpers.js';
import { expectTokenResponse, lastLogEntry } from './token-assertions.js';

const KEYS_FILE = fileURLToPath(new URL('./fixtures/signing-keys.json', import.meta.url));
const CLIENT_ID = 'litellm-client';
const CLIENT_SECRET = 'litellm-secret';
const AUDIENCE = 'api://my-mcp-server';
const SCOPE = 'mcp.tools.read mcp.tools.execute';
const FROZEN_SECONDS = FROZEN_TIME / 1000;

/** Starts a server that issues JWTs signed with the fixture keys to one registered client. */
function startJwtServer(options: ServerOptions = {}): Promise<TestServer> {
  return startServer({
    tokenFormat: 'jwt',
    keys: { file: KEYS_FILE },
    clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
    ...options,
  });
}

/** Returns the RFC 8693 §2.1 parameters of the README example. The libraries add the rest. */
function exchangeParameters(): Record<string, string> {
  return {
    subject_token: UNSIGNED_USER_JWT,
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience: AUDIENCE,
    scope: SCOPE,
  };
}

/** Verifies an issued access token through the server's published JWKS, at the frozen time. */
async function verifyAccessToken(token: string, jwksUri: string, issuer: string) {
  const jwks = createRemoteJWKSet(new URL(jwksUri));
  return jwtVerify(token, jwks, {
    issuer,
    audience: AUDIENCE,
    typ: 'at+jwt',
    currentDate: new Date(FROZEN_TIME),
  });
}

const forwarders: Server[] = [];

afterEach(async () => {
  await Promise.all(
    forwarders
      .splice(0)
      .map((forwarder) => new Promise((resolve) => forwarder.close(() => resolve(undefined)))),
  );
});

/**
 * Starts a loopback HTTP forwarder on a free port, as a reverse proxy in front of the server
 * would be. It keeps the `Host` header, so the server builds its URLs on the forwarder's origin.
 * The target is set after the forwarder listens, because the server's issuer names its port.
 */
async function startForwarder(): Promise<{ url: string; forwardTo(target: string): void }> {
  let target: URL | undefined;
  const forwarder = createHttpServer((incoming, outgoing) => {
    if (target === undefined) {
      outgoing.writeHead(503).end();
      return;
    }
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: incoming.url,
        method: incoming.method,
        headers: incoming.headers,
      },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(outgoing);
      },
    );
    upstream.on('error', () => outgoing.writeHead(502).end());
    incoming.pipe(upstream);
  });
  forwarders.push(forwarder);
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  const { port } = forwarder.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    forwardTo(url) {
      target = new URL(url);
    },
  };
}

describe('openid-client', () => {
  async function discover(server: TestServer, clientAuth: openid.ClientAuth) {
    return openid.discovery(new URL(server.url), CLIENT_ID, CLIENT_SECRET, clientAuth, {
      execute: [openid.allowInsecureRequests],
    });
  }

  it('discovers server metadata', async () => {
    const server = await startJwtServer();

    const config = await discover(server, openid.ClientSecretBasic(CLIENT_SECRET));
    const metadata = config.serverMetadata();

    expect(metadata.issuer).toBe(server.url);
    expect(metadata.token_endpoint).toBe(server.tokenUrl);
    expect(metadata.jwks_uri).toBe(`${server.url}/.well-known/jwks.json`);
  });

  it('exchanges with ClientSecretBasic', async () => {
    const server = await startJwtServer();
    const config = await discover(server, openid.ClientSecretBasic(CLIENT_SECRET));

    const tokens = await openid.genericGrantRequest(config, TOKEN_EXCHANGE, exchangeParameters());
    const { payload } = await verifyAccessToken(
      tokens.access_token,
      config.serverMetadata().jwks_uri ?? '',
      server.url,
    );

    expect(tokens.token_type).toBe('bearer');
    expect(tokens.issued_token_type).toBe(ACCESS_TOKEN_TYPE);
    expect(tokens.expires_in).toBe(3600);
    expect(payload.sub).toBe('user-123');
    expect((await lastLogEntry(server.url)).client.authMethod).toBe('client_secret_basic');
  });

  it('exchanges with ClientSecretPost', async () => {
    const server = await startJwtServer();
    const config = await discover(server, openid.ClientSecretPost(CLIENT_SECRET));

    const tokens = await openid.genericGrantRequest(config, TOKEN_EXCHANGE, exchangeParameters());
    const { payload } = await verifyAccessToken(
      tokens.access_token,
      config.serverMetadata().jwks_uri ?? '',
      server.url,
    );

    expect(tokens.scope).toBe(SCOPE);
    expect(payload.client_id).toBe(CLIENT_ID);
    expect((await lastLogEntry(server.url)).client.authMethod).toBe('client_secret_post');
  });

  it('discovers through localhost', async () => {
    const server = await startJwtServer();
    const origin = server.url.replace('127.0.0.1', 'localhost');

    const config = await openid.discovery(
      new URL(origin),
      CLIENT_ID,
      CLIENT_SECRET,
      openid.ClientSecretBasic(CLIENT_SECRET),
      { execute: [openid.allowInsecureRequests] },
    );
    const tokens = await openid.genericGrantRequest(config, TOKEN_EXCHANGE, exchangeParameters());
    const { payload } = await verifyAccessToken(
      tokens.access_token,
      `${origin}/.well-known/jwks.json`,
      origin,
    );

    expect(config.serverMetadata().issuer).toBe(origin);
    expect(payload.iss).toBe(origin);
  });
});

describe('oauth4webapi with an issuer path', () => {
  /** Starts a server whose issuer is `<forwarder>/tenant1`, reached through the forwarder. */
  async function startTenantServer() {
    const forwarder = await startForwarder();
    const issuer = `${forwarder.url}/tenant1`;
    const server = await startJwtServer({ issuer });
    forwarder.forwardTo(server.url);
    return { issuer, forwarder, server };
  }

  it.each([
    ['oidc', undefined],
    ['oauth2', 'oauth2'],
  ] as const)('discovers with algorithm %s', async (_name, algorithm) => {
    const { issuer, forwarder } = await startTenantServer();
    const issuerUrl = new URL(issuer);

    const response = await oauth.discoveryRequest(issuerUrl, {
      [oauth.allowInsecureRequests]: true,
      ...(algorithm !== undefined && { algorithm }),
    });
    const metadata = await oauth.processDiscoveryResponse(issuerUrl, response);

    expect(metadata.issuer).toBe(issuer);
    expect(metadata.token_endpoint).toBe(`${forwarder.url}/oauth2/token`);
    expect(metadata.jwks_uri).toBe(`${forwarder.url}/.well-known/jwks.json`);
  });

  it('exchanges at discovered endpoint', async () => {
    const { issuer } = await startTenantServer();
    const issuerUrl = new URL(issuer);
    const metadata = await oauth.processDiscoveryResponse(
      issuerUrl,
      await oauth.discoveryRequest(issuerUrl, { [oauth.allowInsecureRequests]: true }),
    );
    const client: oauth.Client = { client_id: CLIENT_ID };

    const response = await oauth.genericTokenEndpointRequest(
      metadata,
      client,
      oauth.ClientSecretPost(CLIENT_SECRET),
      TOKEN_EXCHANGE,
      new URLSearchParams(exchangeParameters()),
      { [oauth.allowInsecureRequests]: true },
    );
    const result = await oauth.processGenericTokenEndpointResponse(metadata, client, response);
    const { payload } = await verifyAccessToken(
      result.access_token,
      metadata.jwks_uri ?? '',
      issuer,
    );

    expect(payload.iss).toBe(issuer);
    expect(payload.aud).toBe(AUDIENCE);
  });
});

describe('jose verification of issued tokens', () => {
  async function exchangeAndVerify(options: ServerOptions) {
    const server = await startJwtServer(options);
    const response = await fetch(server.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: exchangeBody(),
    });
    const body = await expectTokenResponse(response);
    const token = body.access_token as string;
    const verified = await verifyAccessToken(
      token,
      `${server.url}/.well-known/jwks.json`,
      server.url,
    );
    return { server, body, token, ...verified };
  }

  it.each([
    ['RS256', 'test-rs256'],
    ['PS256', 'test-ps256'],
    ['ES256', 'test-es256'],
    ['EdDSA', 'test-eddsa'],
  ])('verifies %s token from fixture', async (alg, kid) => {
    const { server, body, payload, protectedHeader } = await exchangeAndVerify({
      keys: { file: KEYS_FILE, activeKeyId: kid },
    });

    expect(protectedHeader).toEqual({ alg, kid, typ: 'at+jwt' });
    expect(payload.iss).toBe(server.url);
    expect(payload.sub).toBe('user-123');
    expect(payload.aud).toBe(AUDIENCE);
    expect(payload.client_id).toBe(CLIENT_ID);
    expect(payload.scope).toBe(SCOPE);
    expect(payload.iat).toBe(FROZEN_SECONDS);
    expect(payload.exp).toBe(FROZEN_SECONDS + (body.expires_in as number));
    expect(typeof payload.jti).toBe('string');
    expect(payload.jti).not.toBe('');
  });

  it.each([['RS256'], ['PS256'], ['ES256'], ['EdDSA']] as const)(
    'verifies %s token from generated key',
    async (algorithm) => {
      const { token, payload, protectedHeader } = await exchangeAndVerify({
        keys: { algorithm },
      });

      expect(protectedHeader.alg).toBe(algorithm);
      expect(protectedHeader.typ).toBe('at+jwt');
      expect(protectedHeader.kid).toBe(decodeProtectedHeader(token).kid);
      expect(typeof protectedHeader.kid).toBe('string');
      expect(payload.sub).toBe('user-123');
      expect(payload.exp).toBe(FROZEN_SECONDS + 3600);
    },
  );

  it('rejects token for another audience', async () => {
    const { token, server } = await exchangeAndVerify({});

    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));

    await expect(
      jwtVerify(token, jwks, {
        issuer: server.url,
        audience: 'api://other',
        currentDate: new Date(FROZEN_TIME),
      }),
    ).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
  });
});
