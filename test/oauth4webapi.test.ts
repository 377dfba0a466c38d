import * as oauth from 'oauth4webapi';
import { describe, expect, it } from 'vitest';
import type { RequestLogEntry } from '../src/request-log/entry.js';
import {
  ACCESS_TOKEN_TYPE,
  startServer,
  type TestServer,
  TOKEN_EXCHANGE,
  UNSIGNED_USER_JWT,
} from './helpers.js';

const CLIENT_ID = 'litellm-client';
const CLIENT_SECRET = 'litellm-secret';
const README_TOKEN = 'exchanged-53a23a852c28f3be-for-api://my-mcp-server';
const SCOPE = 'mcp.tools.read mcp.tools.execute';

const client: oauth.Client = { client_id: CLIENT_ID };

/** Builds authorization server metadata by hand, so that these tests do not depend on discovery. */
function metadata(server: TestServer): oauth.AuthorizationServer {
  return { issuer: server.url, token_endpoint: server.tokenUrl };
}

/** Builds the RFC 8693 §2.1 parameters of the README example. The library adds the rest. */
function exchangeParameters(): URLSearchParams {
  return new URLSearchParams({
    subject_token: UNSIGNED_USER_JWT,
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience: 'api://my-mcp-server',
    scope: SCOPE,
  });
}

async function exchange(
  server: TestServer,
  clientAuth: oauth.ClientAuth,
  parameters = exchangeParameters(),
): Promise<Response> {
  return oauth.genericTokenEndpointRequest(
    metadata(server),
    client,
    clientAuth,
    TOKEN_EXCHANGE,
    parameters,
    { [oauth.allowInsecureRequests]: true },
  );
}

async function loggedClient(server: TestServer): Promise<RequestLogEntry['client'] | undefined> {
  const response = await fetch(`${server.url}/log`);
  const log = (await response.json()) as { entries: RequestLogEntry[] };
  return log.entries[0]?.client;
}

describe('oauth4webapi token exchange', () => {
  it('exchanges with ClientSecretPost', async () => {
    const server = await startServer({
      clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
    });

    const response = await exchange(server, oauth.ClientSecretPost(CLIENT_SECRET));
    const result = await oauth.processGenericTokenEndpointResponse(
      metadata(server),
      client,
      response,
    );

    expect(result.access_token).toBe(README_TOKEN);
    expect(result.token_type).toBe('bearer');
    expect(result.expires_in).toBe(3600);
    expect(result.scope).toBe(SCOPE);
    expect(result.issued_token_type).toBe(ACCESS_TOKEN_TYPE);
    expect(await loggedClient(server)).toEqual({
      id: CLIENT_ID,
      authMethod: 'client_secret_post',
      authenticated: true,
    });
  });

  it('exchanges with ClientSecretBasic', async () => {
    const server = await startServer({
      clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
    });

    const response = await exchange(server, oauth.ClientSecretBasic(CLIENT_SECRET));
    const result = await oauth.processGenericTokenEndpointResponse(
      metadata(server),
      client,
      response,
    );

    expect(result.access_token).toBe(README_TOKEN);
    expect(result.token_type).toBe('bearer');
    expect(result.expires_in).toBe(3600);
    expect(result.scope).toBe(SCOPE);
    expect(result.issued_token_type).toBe(ACCESS_TOKEN_TYPE);
  });

  // oauth4webapi 3.8 form-urlencodes the id and secret before base64 (RFC 6749 §2.3.1). It
  // escapes even `-`, so `litellm-client` arrives as `litellm%2Dclient`.
  it('Basic credentials arrive form-encoded', async () => {
    const server = await startServer({
      clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
    });

    const response = await exchange(server, oauth.ClientSecretBasic(CLIENT_SECRET));
    expect(response.status).toBe(200);

    expect(await loggedClient(server)).toEqual({
      id: CLIENT_ID,
      authMethod: 'client_secret_basic',
      basicEncoding: 'form-urlencoded',
      authenticated: true,
    });
  });

  it('custom token TTL reaches client', async () => {
    const server = await startServer({ tokenTtl: 90 });

    const response = await exchange(server, oauth.ClientSecretPost(CLIENT_SECRET));
    const result = await oauth.processGenericTokenEndpointResponse(
      metadata(server),
      client,
      response,
    );

    expect(result.expires_in).toBe(90);
  });
});

describe('oauth4webapi error handling', () => {
  // The 401 carries WWW-Authenticate, which oauth4webapi checks before reading the body.
  it.each([
    ['ClientSecretPost', oauth.ClientSecretPost('wrong-secret')],
    ['ClientSecretBasic', oauth.ClientSecretBasic('wrong-secret')],
  ])('wrong secret with %s', async (_name, clientAuth) => {
    const server = await startServer({
      clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
    });
    const response = await exchange(server, clientAuth);

    const error = await oauth
      .processGenericTokenEndpointResponse(metadata(server), client, response)
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    const challengeError = error as oauth.WWWAuthenticateChallengeError;
    expect(challengeError.status).toBe(401);
    expect(challengeError.cause).toEqual([
      {
        scheme: 'basic',
        parameters: { realm: 'mock-token-exchange-server', charset: 'UTF-8' },
      },
    ]);
    expect(await challengeError.response.json()).toEqual({
      error: 'invalid_client',
      error_description: 'client authentication failed',
    });
  });

  it('invalid request is ResponseBodyError', async () => {
    const server = await startServer();
    const parameters = exchangeParameters();
    parameters.set('subject_token_type', 'urn:ietf:params:oauth:token-type:saml2');
    const response = await exchange(server, oauth.ClientSecretPost(CLIENT_SECRET), parameters);

    const error = await oauth
      .processGenericTokenEndpointResponse(metadata(server), client, response)
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(oauth.ResponseBodyError);
    const bodyError = error as oauth.ResponseBodyError;
    expect(bodyError.status).toBe(400);
    expect(bodyError.error).toBe('invalid_request');
    expect(bodyError.error_description).toBe('unsupported subject_token_type');
  });
});
