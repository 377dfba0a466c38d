import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/errors.js';
import { createServer } from '../src/server.js';
import { exchangeBody, postToken, startServer, TOKEN_EXCHANGE } from './helpers.js';
import { expectOAuthError, readJson } from './token-assertions.js';

const KEYS_FILE = fileURLToPath(new URL('./fixtures/signing-keys.json', import.meta.url));
const OAUTH_PATH = '/.well-known/oauth-authorization-server';
const OPENID_PATH = '/.well-known/openid-configuration';
const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none'];

/**
 * Builds the RFC 8414 document this server publishes, with endpoint URLs on `origin`. Every
 * member is written out, so that a member added to or dropped from the document fails the tests.
 */
function oauthDocument(origin: string, issuer: string = origin): Record<string, unknown> {
  return {
    issuer,
    token_endpoint: `${origin}/oauth2/token`,
    introspection_endpoint: `${origin}/oauth2/introspect`,
    revocation_endpoint: `${origin}/oauth2/revoke`,
    authorization_endpoint: `${origin}/oauth2/authorize`,
    jwks_uri: `${origin}/.well-known/jwks.json`,
    response_types_supported: [],
    grant_types_supported: [TOKEN_EXCHANGE, 'client_credentials'],
    token_endpoint_auth_methods_supported: AUTH_METHODS,
    introspection_endpoint_auth_methods_supported: AUTH_METHODS,
    revocation_endpoint_auth_methods_supported: AUTH_METHODS,
  };
}

/** Builds the OpenID Connect discovery document: the RFC 8414 members plus the OpenID ones. */
function openidDocument(
  origin: string,
  issuer: string = origin,
  algorithms: string[] = ['RS256'],
): Record<string, unknown> {
  return {
    ...oauthDocument(origin, issuer),
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: algorithms,
  };
}

let tempDirectory: string | undefined;

afterEach(async () => {
  if (tempDirectory !== undefined) await rm(tempDirectory, { recursive: true, force: true });
  tempDirectory = undefined;
});

/** Writes a private JWKS containing the fixture keys with the given `kid`s, in that order. */
async function writeKeysFile(kids: string[]): Promise<string> {
  const fixture = JSON.parse(readFileSync(KEYS_FILE, 'utf8')) as { keys: JWK[] };
  const keys = kids.map((kid) => fixture.keys.find((key) => key.kid === kid));
  tempDirectory ??= await mkdtemp(join(tmpdir(), 'mtes-discovery-'));
  const path = join(tempDirectory, 'keys.json');
  await writeFile(path, JSON.stringify({ keys }), 'utf8');
  return path;
}

async function fetchDocument(url: string): Promise<unknown> {
  const response = await fetch(url, { redirect: 'manual' });
  expect(response.status).toBe(200);
  return readJson(response);
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends a GET with headers that fetch cannot set, such as `Host`. */
function getWithHeaders(
  url: string,
  path: string,
  headers: Record<string, string>,
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: hostname, port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** Sends an HTTP/1.0 request without a `Host` header and returns the response body. */
function getWithoutHost(url: string, path: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString();
    });
    socket.on('close', () => resolve(received.slice(received.indexOf('\r\n\r\n') + 4)));
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.0\r\n\r\n`);
  });
}

describe('metadata for a path-less issuer', () => {
  it('RFC 8414 document on 127.0.0.1', async () => {
    const { url } = await startServer();

    const document = await fetchDocument(`${url}${OAUTH_PATH}`);

    expect(document).toEqual(oauthDocument(url));
  });

  it('RFC 8414 document on localhost', async () => {
    const { url } = await startServer();
    const origin = url.replace('127.0.0.1', 'localhost');

    const document = await fetchDocument(`${origin}${OAUTH_PATH}`);

    expect(document).toEqual(oauthDocument(origin));
  });

  it('OpenID document on 127.0.0.1', async () => {
    const { url } = await startServer();

    const document = await fetchDocument(`${url}${OPENID_PATH}`);

    expect(document).toEqual(openidDocument(url));
  });

  it('OpenID document on localhost', async () => {
    const { url } = await startServer();
    const origin = url.replace('127.0.0.1', 'localhost');

    const document = await fetchDocument(`${origin}${OPENID_PATH}`);

    expect(document).toEqual(openidDocument(origin));
  });

  it('lists algorithms of loaded keys', async () => {
    const { url } = await startServer({ keys: { file: KEYS_FILE } });

    const document = await fetchDocument(`${url}${OPENID_PATH}`);

    expect(document).toEqual(openidDocument(url, url, ['RS256', 'PS256', 'ES256', 'EdDSA']));
  });

  it('lists generated key algorithm', async () => {
    const { url } = await startServer({ keys: { algorithm: 'EdDSA' } });

    const document = (await fetchDocument(`${url}${OPENID_PATH}`)) as Record<string, unknown>;

    expect(document.id_token_signing_alg_values_supported).toEqual(['RS256', 'EdDSA']);
  });

  it('ES256-only key file adds RS256', async () => {
    const file = await writeKeysFile(['test-es256']);
    const { url } = await startServer({ keys: { file } });

    const document = await fetchDocument(`${url}${OPENID_PATH}`);

    expect(document).toEqual(openidDocument(url, url, ['RS256', 'ES256']));
  });

  it('lists RS256 first and once', async () => {
    const file = await writeKeysFile(['test-es256', 'test-rs256', 'test-eddsa', 'test-rs256-next']);
    const { url } = await startServer({ keys: { file } });

    const document = (await fetchDocument(`${url}${OPENID_PATH}`)) as Record<string, unknown>;

    expect(document.id_token_signing_alg_values_supported).toEqual(['RS256', 'ES256', 'EdDSA']);
  });

  it('serves no issuer path forms', async () => {
    const { url } = await startServer();

    const response = await fetch(`${url}${OAUTH_PATH}/t`);

    await expectOAuthError(response, 404, 'not_found', `no route for GET ${OAUTH_PATH}/t`);
  });

  it('missing Host uses socket address', async () => {
    const { url } = await startServer();

    const body = await getWithoutHost(url, OAUTH_PATH);

    expect(JSON.parse(body)).toEqual(oauthDocument(url));
  });

  it('invalid Host header is rejected', async () => {
    const { url } = await startServer();

    const response = await getWithHeaders(url, OAUTH_PATH, { host: 'a@b' });

    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toEqual({
      error: 'invalid_request',
      error_description: 'invalid Host header',
    });
  });

  it('Host with port appears verbatim', async () => {
    const { url } = await startServer();

    const response = await getWithHeaders(url, OAUTH_PATH, { host: 'mock.test:8443' });

    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual(oauthDocument('http://mock.test:8443'));
  });

  it('lists endpoints from the registry', async () => {
    const { server, url } = await startServer();
    server.context.endpoints.add('registration_endpoint', '/oauth2/register');

    const document = (await fetchDocument(`${url}${OAUTH_PATH}`)) as Record<string, unknown>;

    expect(document.registration_endpoint).toBe(`${url}/oauth2/register`);
  });
});

describe('metadata for an issuer with a path', () => {
  const issuer = 'http://issuer.test/t';

  it.each([[OAUTH_PATH], [`${OAUTH_PATH}/t`]])('RFC 8414 document at %s', async (path) => {
    const { url } = await startServer({ issuer });

    const document = await fetchDocument(`${url}${path}`);

    expect(document).toEqual(oauthDocument(url, issuer));
  });

  it.each([[OPENID_PATH], [`/t${OPENID_PATH}`], [`${OPENID_PATH}/t`]])(
    'OpenID document at %s',
    async (path) => {
      const { url } = await startServer({ issuer });

      const document = await fetchDocument(`${url}${path}`);

      expect(document).toEqual(openidDocument(url, issuer));
    },
  );

  it.each([
    [`${OAUTH_PATH}/t`, oauthDocument],
    [`/t${OPENID_PATH}`, openidDocument],
    [`${OPENID_PATH}/t`, openidDocument],
  ])('trailing slash issuer kept at %s', async (path, build) => {
    const slashIssuer = 'http://issuer.test/t/';
    const { url } = await startServer({ issuer: slashIssuer });

    const document = await fetchDocument(`${url}${path}`);

    expect(document).toEqual(build(url, slashIssuer));
  });

  it.each([
    [`${OAUTH_PATH}/realms/dev`],
    [`/realms/dev${OPENID_PATH}`],
    [`${OPENID_PATH}/realms/dev`],
  ])('two-segment path served at %s', async (path) => {
    const { url } = await startServer({ issuer: 'http://issuer.test/realms/dev' });

    const document = (await fetchDocument(`${url}${path}`)) as Record<string, unknown>;

    expect(document.issuer).toBe('http://issuer.test/realms/dev');
  });

  it('path with colon served literally', async () => {
    const { url } = await startServer({ issuer: 'http://issuer.test/tenant:1' });

    const document = (await fetchDocument(`${url}/tenant:1${OPENID_PATH}`)) as Record<
      string,
      unknown
    >;

    expect(document.issuer).toBe('http://issuer.test/tenant:1');
  });

  it('colon path is not a parameter', async () => {
    const { url } = await startServer({ issuer: 'http://issuer.test/tenant:1' });

    const response = await fetch(`${url}/tenant2${OPENID_PATH}`);

    expect(response.status).toBe(404);
  });

  it('other issuer path is 404', async () => {
    const { url } = await startServer({ issuer });

    const response = await fetch(`${url}${OAUTH_PATH}/other`);

    expect(response.status).toBe(404);
  });

  it('issued JWT carries configured issuer', async () => {
    const { tokenUrl } = await startServer({ issuer, tokenFormat: 'jwt' });

    const response = await postToken(tokenUrl, exchangeBody());
    const { access_token } = (await response.json()) as { access_token: string };
    const payload = JSON.parse(
      Buffer.from(access_token.split('.')[1] ?? '', 'base64url').toString(),
    );

    expect(payload.iss).toBe(issuer);
  });

  it('rejects POST with 405', async () => {
    const { url } = await startServer({ issuer });

    const response = await fetch(`${url}/t${OPENID_PATH}`, { method: 'POST' });

    expect(response.headers.get('allow')).toBe('GET, HEAD');
    await expectOAuthError(response, 405, 'invalid_request', 'method not allowed, use GET or HEAD');
  });
});

describe('issuer configuration', () => {
  it.each([
    ['http://issuer.test/a/../b', 'path must be in normalized form, without . or .. segments'],
    [
      'http://issuer.test/a b',
      "path may contain only letters, digits, / and the characters - . _ ~ ! $ & ' ( ) + , ; = : @",
    ],
    [
      'http://issuer.test/a%20b',
      "path may contain only letters, digits, / and the characters - . _ ~ ! $ & ' ( ) + , ; = : @",
    ],
    [
      'http://issuer.test/t*',
      "path may contain only letters, digits, / and the characters - . _ ~ ! $ & ' ( ) + , ; = : @",
    ],
  ])('rejects issuer %s', (issuer, problem) => {
    expect(() => createServer({ issuer })).toThrow(
      new ConfigError(
        `invalid configuration:\nissuer: ${problem} (received ${JSON.stringify(issuer)})`,
      ),
    );
  });

  it('accepts issuer with slash only', async () => {
    const { url } = await startServer({ issuer: 'http://issuer.test/' });

    const document = await fetchDocument(`${url}${OAUTH_PATH}`);

    expect(document).toEqual(oauthDocument(url, 'http://issuer.test/'));
  });
});

describe('metadata behind a proxy', () => {
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'auth.example' };

  it('trustProxy uses forwarded origin', async () => {
    const { url } = await startServer({ trustProxy: true });

    const response = await getWithHeaders(url, OAUTH_PATH, forwarded);

    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual(oauthDocument('https://auth.example'));
  });

  it('forwarded headers ignored without trustProxy', async () => {
    const { url } = await startServer();

    const response = await getWithHeaders(url, OAUTH_PATH, forwarded);

    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual(oauthDocument(url));
  });

  it('first forwarded value wins', async () => {
    const { url } = await startServer({ trustProxy: true });

    const response = await getWithHeaders(url, OAUTH_PATH, {
      'x-forwarded-proto': 'HTTPS, http',
      'x-forwarded-host': 'auth.example, inner.example',
    });

    expect(JSON.parse(response.body)).toEqual(oauthDocument('https://auth.example'));
  });

  it('forwarded proto alone keeps Host', async () => {
    const { url } = await startServer({ trustProxy: true });

    const response = await getWithHeaders(url, OAUTH_PATH, { 'x-forwarded-proto': 'https' });

    expect(JSON.parse(response.body)).toEqual(oauthDocument(url.replace('http:', 'https:')));
  });

  it('configured issuer wins over forwarded', async () => {
    const { url } = await startServer({ trustProxy: true, issuer: 'http://issuer.test/t' });

    const response = await getWithHeaders(url, `${OAUTH_PATH}/t`, forwarded);

    expect(JSON.parse(response.body)).toEqual(
      oauthDocument('https://auth.example', 'http://issuer.test/t'),
    );
  });

  it('rejects unknown forwarded proto', async () => {
    const { url } = await startServer({ trustProxy: true });

    const response = await getWithHeaders(url, OAUTH_PATH, { 'x-forwarded-proto': 'ftp' });

    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toEqual({
      error: 'invalid_request',
      error_description: 'X-Forwarded-Proto must be http or https',
    });
  });

  it('rejects invalid forwarded host', async () => {
    const { url } = await startServer({ trustProxy: true });

    const response = await getWithHeaders(url, OAUTH_PATH, { 'x-forwarded-host': 'a/b' });

    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toEqual({
      error: 'invalid_request',
      error_description: 'invalid X-Forwarded-Host header',
    });
  });

  it('JWT iss follows forwarded origin', async () => {
    const { url } = await startServer({ trustProxy: true, tokenFormat: 'jwt' });

    const response = await postToken(`${url}/oauth2/token`, exchangeBody(), forwarded);
    const { access_token } = (await response.json()) as { access_token: string };
    const payload = JSON.parse(
      Buffer.from(access_token.split('.')[1] ?? '', 'base64url').toString(),
    );

    expect(payload.iss).toBe('https://auth.example');
  });
});

describe('metadata URLs', () => {
  it('every endpoint URL is served', async () => {
    const { url } = await startServer();
    const document = (await fetchDocument(`${url}${OAUTH_PATH}`)) as Record<string, unknown>;
    const urls = Object.entries(document)
      .filter(([name]) => name.endsWith('_endpoint') || name === 'jwks_uri')
      .map(([, value]) => value as string);

    expect(urls).toHaveLength(5);
    for (const endpoint of urls) {
      const method = endpoint.endsWith('/jwks.json') || endpoint.endsWith('/authorize');
      const response = await fetch(endpoint, { method: method ? 'GET' : 'POST' });
      expect(response.status, endpoint).not.toBe(404);
    }
  });

  it('documents answer HEAD', async () => {
    const { url } = await startServer();

    const response = await fetch(`${url}${OPENID_PATH}`, { method: 'HEAD' });

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
  });
});

describe('authorization endpoint', () => {
  it('rejects every response type', async () => {
    const { url } = await startServer();

    const response = await fetch(
      `${url}/oauth2/authorize?response_type=code&client_id=app&redirect_uri=http%3A%2F%2Fapp.test%2Fcb`,
      { redirect: 'manual' },
    );

    expect(response.headers.get('location')).toBeNull();
    await expectOAuthError(
      response,
      400,
      'unsupported_response_type',
      'this server supports no response type and issues tokens only at its token endpoint',
    );
  });

  it('missing response_type is invalid_request', async () => {
    const { url } = await startServer();

    const response = await fetch(`${url}/oauth2/authorize?client_id=app`);

    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'missing required parameter response_type',
    );
  });

  it('rejects POST with 405', async () => {
    const { url } = await startServer();

    const response = await fetch(`${url}/oauth2/authorize`, { method: 'POST' });

    expect(response.headers.get('allow')).toBe('GET, HEAD');
    await expectOAuthError(response, 405, 'invalid_request', 'method not allowed, use GET or HEAD');
  });
});
