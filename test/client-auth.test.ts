import { describe, expect, it } from 'vitest';
import type { ServerOptions } from '../src/server.js';
import { basicHeader, exchangeBody, postToken, rawBasicHeader, startServer } from './helpers.js';
import {
  BASIC_CHALLENGE,
  expectOAuthError,
  expectTokenResponse,
  lastLogEntry,
} from './token-assertions.js';

const CLIENTS: ServerOptions['clients'] = [
  { clientId: 'mcp-gateway', clientSecret: 'gw-secret' },
  { clientId: 'weird-client', clientSecret: 'a+b/c:d%e f' },
  { clientId: 'plus-client', clientSecret: 'x+y' },
  { clientId: 'colon-client', clientSecret: 'part1:part2' },
  { clientId: 'cli:ent', clientSecret: 's3cr+t/=' },
  { clientId: 'public-app' },
];

/** `exchangeBody()` without client credentials, for requests that authenticate by header. */
const BODY_WITHOUT_CLIENT = exchangeBody({ client_id: undefined, client_secret: undefined });

const AUTHENTICATION_FAILED = 'client authentication failed';
const MALFORMED_BASIC = 'malformed Basic credentials';
const MULTIPLE_METHODS = 'the client used more than one authentication method';

function startWithClients() {
  return startServer({ clients: CLIENTS });
}

/** Posts the exchange with only an Authorization header identifying the client. */
function postWithAuthorization(tokenUrl: string, authorization: string): Promise<Response> {
  return postToken(tokenUrl, BODY_WITHOUT_CLIENT, { authorization });
}

/** Checks a 401 invalid_client response with its Basic challenge. */
async function expectInvalidClient(response: Response, description: string): Promise<void> {
  expect(response.headers.get('www-authenticate')).toBe(BASIC_CHALLENGE);
  await expectOAuthError(response, 401, 'invalid_client', description);
}

/** Checks a 400 invalid_request response that carries no challenge. */
async function expectInvalidRequest(response: Response, description: string): Promise<void> {
  expect(response.headers.get('www-authenticate')).toBeNull();
  await expectOAuthError(response, 400, 'invalid_request', description);
}

describe('client auth without registered clients', () => {
  it('accepts any client_secret_post', async () => {
    const { tokenUrl } = await startServer();
    const body = exchangeBody({ client_id: 'anyone', client_secret: 'anything' });
    expect((await postToken(tokenUrl, body)).status).toBe(200);
  });

  it('accepts any Basic credentials', async () => {
    const { tokenUrl } = await startServer();
    const response = await postWithAuthorization(tokenUrl, basicHeader('anyone', 'anything'));
    expect(response.status).toBe(200);
  });

  it('accepts client_id alone', async () => {
    const { tokenUrl } = await startServer();
    const body = exchangeBody({ client_id: 'anyone', client_secret: undefined });
    expect((await postToken(tokenUrl, body)).status).toBe(200);
  });

  // This server requires every token request to name its client, by header or client_id.
  it('rejects a request without client', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, BODY_WITHOUT_CLIENT);
    await expectInvalidClient(response, 'client authentication is required');
  });

  it('rejects malformed Basic anyway', async () => {
    const { tokenUrl } = await startServer();
    const response = await postWithAuthorization(tokenUrl, 'Basic !!!');
    await expectInvalidClient(response, MALFORMED_BASIC);
  });
});

describe('client auth with registered clients', () => {
  it('accepts correct Basic credentials', async () => {
    const { tokenUrl } = await startWithClients();
    const response = await postWithAuthorization(tokenUrl, basicHeader('mcp-gateway', 'gw-secret'));
    expect(response.status).toBe(200);
  });

  // RFC 6749 §5.2: failed authentication by header is 401 with WWW-Authenticate.
  it('rejects a wrong Basic secret', async () => {
    const { tokenUrl } = await startWithClients();
    const response = await postWithAuthorization(tokenUrl, basicHeader('mcp-gateway', 'wrong'));
    await expectInvalidClient(response, AUTHENTICATION_FAILED);
  });

  it('rejects an unknown Basic client', async () => {
    const { tokenUrl } = await startWithClients();
    const response = await postWithAuthorization(tokenUrl, basicHeader('nobody', 'gw-secret'));
    await expectInvalidClient(response, AUTHENTICATION_FAILED);
  });

  it('accepts a correct post secret', async () => {
    const { tokenUrl } = await startWithClients();
    const body = exchangeBody({ client_id: 'mcp-gateway', client_secret: 'gw-secret' });
    expect((await postToken(tokenUrl, body)).status).toBe(200);
  });

  it('rejects a wrong post secret', async () => {
    const { tokenUrl } = await startWithClients();
    const body = exchangeBody({ client_id: 'mcp-gateway', client_secret: 'wrong' });
    await expectInvalidClient(await postToken(tokenUrl, body), AUTHENTICATION_FAILED);
  });

  it('rejects an unknown post client', async () => {
    const { tokenUrl } = await startWithClients();
    const body = exchangeBody({ client_id: 'nobody', client_secret: 'gw-secret' });
    await expectInvalidClient(await postToken(tokenUrl, body), AUTHENTICATION_FAILED);
  });

  it('rejects confidential client without secret', async () => {
    const { tokenUrl } = await startWithClients();
    const body = exchangeBody({ client_id: 'mcp-gateway', client_secret: undefined });
    await expectInvalidClient(await postToken(tokenUrl, body), AUTHENTICATION_FAILED);
  });

  it('rejects unknown client_id alone', async () => {
    const { tokenUrl } = await startWithClients();
    const body = exchangeBody({ client_id: 'nobody', client_secret: undefined });
    await expectInvalidClient(await postToken(tokenUrl, body), AUTHENTICATION_FAILED);
  });

  it('accepts public client without secret', async () => {
    const { tokenUrl } = await startWithClients();
    const body = exchangeBody({ client_id: 'public-app', client_secret: undefined });
    expect((await postToken(tokenUrl, body)).status).toBe(200);
  });

  it('rejects public client posting a secret', async () => {
    const { tokenUrl } = await startWithClients();
    const body = exchangeBody({ client_id: 'public-app', client_secret: 'guess' });
    await expectInvalidClient(await postToken(tokenUrl, body), AUTHENTICATION_FAILED);
  });

  it('rejects public client using Basic', async () => {
    const { tokenUrl } = await startWithClients();
    const response = await postWithAuthorization(tokenUrl, basicHeader('public-app', 'guess'));
    await expectInvalidClient(response, AUTHENTICATION_FAILED);
  });
});

describe('Basic credential encoding', () => {
  // RFC 6749 §2.3.1: the client id and secret are form-urlencoded before base64. This server
  // also accepts them unencoded and records which form arrived.
  it.each([
    [
      'encoded weird-client',
      'Basic d2VpcmQtY2xpZW50OmElMkJiJTJGYyUzQWQlMjVlK2Y=',
      'form-urlencoded',
    ],
    ['raw weird-client', 'Basic d2VpcmQtY2xpZW50OmErYi9jOmQlZSBm', 'raw'],
    ['encoded plus-client', 'Basic cGx1cy1jbGllbnQ6eCUyQnk=', 'form-urlencoded'],
    ['raw plus-client', 'Basic cGx1cy1jbGllbnQ6eCt5', 'raw'],
    ['encoded colon-client', 'Basic Y29sb24tY2xpZW50OnBhcnQxJTNBcGFydDI=', 'form-urlencoded'],
    ['raw colon-client', 'Basic Y29sb24tY2xpZW50OnBhcnQxOnBhcnQy', 'plain'],
    ['plain mcp-gateway', basicHeader('mcp-gateway', 'gw-secret'), 'plain'],
  ])('authenticates %s', async (_name, authorization, encoding) => {
    const { url, tokenUrl } = await startWithClients();
    const response = await postWithAuthorization(tokenUrl, authorization);
    expect(response.status).toBe(200);
    expect((await lastLogEntry(url)).client.basicEncoding).toBe(encoding);
  });

  it('matches the helper encodings', () => {
    expect(basicHeader('weird-client', 'a+b/c:d%e f')).toBe(
      'Basic d2VpcmQtY2xpZW50OmElMkJiJTJGYyUzQWQlMjVlK2Y=',
    );
    expect(rawBasicHeader('weird-client', 'a+b/c:d%e f')).toBe(
      'Basic d2VpcmQtY2xpZW50OmErYi9jOmQlZSBm',
    );
  });

  it('logs the decoded client id', async () => {
    const { url, tokenUrl } = await startWithClients();
    const response = await postWithAuthorization(tokenUrl, basicHeader('cli:ent', 's3cr+t/='));
    expect(response.status).toBe(200);
    expect((await lastLogEntry(url)).client).toEqual({
      id: 'cli:ent',
      authMethod: 'client_secret_basic',
      basicEncoding: 'form-urlencoded',
      authenticated: true,
    });
  });

  // RFC 7617 §2: the user-id ends at the first colon, so an unencoded colon splits the id.
  it('rejects a raw colon in client id', async () => {
    const { tokenUrl } = await startWithClients();
    const response = await postWithAuthorization(tokenUrl, rawBasicHeader('cli:ent', 's3cr+t/='));
    await expectInvalidClient(response, AUTHENTICATION_FAILED);
  });

  it('rejects a space where + was meant', async () => {
    const { tokenUrl } = await startWithClients();
    const response = await postWithAuthorization(tokenUrl, rawBasicHeader('plus-client', 'x y'));
    await expectInvalidClient(response, AUTHENTICATION_FAILED);
  });
});

describe('Basic scheme', () => {
  // RFC 9110 §11.1: the authentication scheme is case-insensitive.
  it.each(['basic', 'BASIC'])('accepts %s scheme', async (scheme) => {
    const { tokenUrl } = await startWithClients();
    const credentials = basicHeader('mcp-gateway', 'gw-secret').slice('Basic '.length);
    const response = await postWithAuthorization(tokenUrl, `${scheme} ${credentials}`);
    expect(response.status).toBe(200);
  });

  it.each([
    ['not base64', 'Basic !!!not-base64!!!'],
    ['no colon', `Basic ${Buffer.from('mcp-gateway').toString('base64')}`],
    ['an empty id', `Basic ${Buffer.from(':gw-secret').toString('base64')}`],
    ['invalid UTF-8', `Basic ${Buffer.from([0x61, 0x3a, 0xff]).toString('base64')}`],
    ['no credentials', 'Basic'],
    ['a Bearer scheme', 'Bearer gw-secret'],
  ])('rejects %s', async (_name, authorization) => {
    const { tokenUrl } = await startWithClients();
    const response = await postWithAuthorization(tokenUrl, authorization);
    await expectInvalidClient(response, MALFORMED_BASIC);
  });
});

describe('client auth method count', () => {
  // RFC 6749 §2.3: a client must not use more than one authentication method per request.
  it('rejects Basic plus client_secret', async () => {
    const { tokenUrl } = await startWithClients();
    const body = exchangeBody({ client_id: undefined, client_secret: 'gw-secret' });
    const response = await postToken(tokenUrl, body, {
      authorization: basicHeader('mcp-gateway', 'gw-secret'),
    });
    await expectInvalidRequest(response, MULTIPLE_METHODS);
  });

  it('rejects Basic plus client_assertion', async () => {
    const { tokenUrl } = await startWithClients();
    const body = `${BODY_WITHOUT_CLIENT}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c`;
    const response = await postToken(tokenUrl, body, {
      authorization: basicHeader('mcp-gateway', 'gw-secret'),
    });
    await expectInvalidRequest(response, MULTIPLE_METHODS);
  });

  it('rejects client_secret plus client_assertion', async () => {
    const { tokenUrl } = await startWithClients();
    const body = `${exchangeBody({ client_id: 'mcp-gateway', client_secret: 'gw-secret' })}&client_assertion=a.b.c`;
    await expectInvalidRequest(await postToken(tokenUrl, body), MULTIPLE_METHODS);
  });

  it('accepts Basic with matching client_id', async () => {
    const { tokenUrl } = await startWithClients();
    const body = exchangeBody({ client_id: 'mcp-gateway', client_secret: undefined });
    const response = await postToken(tokenUrl, body, {
      authorization: basicHeader('mcp-gateway', 'gw-secret'),
    });
    await expectTokenResponse(response);
  });

  it('rejects Basic with other client_id', async () => {
    const { tokenUrl } = await startWithClients();
    const body = exchangeBody({ client_id: 'public-app', client_secret: undefined });
    const response = await postToken(tokenUrl, body, {
      authorization: basicHeader('mcp-gateway', 'gw-secret'),
    });
    await expectInvalidRequest(response, 'client_id does not match the Basic credentials');
  });

  // The body client_id picks the Basic reading: `svc+1` raw, not `svc 1` form-decoded.
  it('uses the reading client_id names', async () => {
    const { url, tokenUrl } = await startServer();
    const body = exchangeBody({ client_id: 'svc+1', client_secret: undefined });
    const response = await postToken(tokenUrl, body, {
      authorization: rawBasicHeader('svc+1', 'pw'),
    });
    expect(response.status).toBe(200);
    expect((await lastLogEntry(url)).client).toEqual({
      id: 'svc+1',
      authMethod: 'client_secret_basic',
      basicEncoding: 'raw',
      authenticated: true,
    });
  });

  it('rejects a reading client_id does not name', async () => {
    const { tokenUrl } = await startServer({
      clients: [{ clientId: 'svc 1', clientSecret: 'pw' }],
    });
    const body = exchangeBody({ client_id: 'svc+1', client_secret: undefined });
    const response = await postToken(tokenUrl, body, {
      authorization: rawBasicHeader('svc+1', 'pw'),
    });
    await expectInvalidClient(response, AUTHENTICATION_FAILED);
  });

  it('rejects client_secret without client_id', async () => {
    const { tokenUrl } = await startWithClients();
    const body = exchangeBody({ client_id: undefined, client_secret: 'gw-secret' });
    await expectInvalidRequest(await postToken(tokenUrl, body), 'client_secret requires client_id');
  });

  it('rejects client_assertion alone', async () => {
    const { tokenUrl } = await startWithClients();
    const body = `${BODY_WITHOUT_CLIENT}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c`;
    await expectInvalidClient(
      await postToken(tokenUrl, body),
      'client_assertion authentication is not supported',
    );
  });
});

describe('client auth failure details', () => {
  // RFC 6749 §5.2 leaves the description to the server. This one does not tell a caller
  // whether the client id or the secret was wrong, and keeps the reason in the request log.
  it('hides which half was wrong', async () => {
    const { tokenUrl } = await startWithClients();
    const wrongSecret = await postWithAuthorization(tokenUrl, basicHeader('mcp-gateway', 'x'));
    const unknownClient = await postWithAuthorization(tokenUrl, basicHeader('nobody', 'x'));
    expect(await wrongSecret.json()).toEqual(await unknownClient.json());
  });

  it('logs a wrong secret reason', async () => {
    const { url, tokenUrl } = await startWithClients();
    await postWithAuthorization(tokenUrl, basicHeader('mcp-gateway', 'wrong'));
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe('plain reading: secret does not match for "mcp-gateway"');
  });

  it('logs an unknown client reason', async () => {
    const { url, tokenUrl } = await startWithClients();
    await postWithAuthorization(tokenUrl, basicHeader('nobody', 'wrong'));
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe('plain reading: client "nobody" is not registered');
  });

  it('logs both Basic readings', async () => {
    const { url, tokenUrl } = await startWithClients();
    await postWithAuthorization(tokenUrl, rawBasicHeader('plus-client', 'x+z'));
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe(
      'form-urlencoded reading: secret does not match for "plus-client"; ' +
        'raw reading: secret does not match for "plus-client"',
    );
  });

  it('logs a wrong post secret reason', async () => {
    const { url, tokenUrl } = await startWithClients();
    await postToken(tokenUrl, exchangeBody({ client_id: 'mcp-gateway', client_secret: 'wrong' }));
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe('secret does not match for "mcp-gateway"');
  });

  it('logs the failed client unauthenticated', async () => {
    const { url, tokenUrl } = await startWithClients();
    await postWithAuthorization(tokenUrl, basicHeader('mcp-gateway', 'wrong'));
    expect((await lastLogEntry(url)).client).toEqual({
      id: 'mcp-gateway',
      authMethod: 'client_secret_basic',
      authenticated: false,
    });
  });
});
