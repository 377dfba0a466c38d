import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JWK,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { frozenClock } from '../src/clock.js';
import { createServer } from '../src/server.js';
import { MintOptionsError } from '../src/tokens/mint.js';
import {
  ACCESS_TOKEN_TYPE,
  FROZEN_TIME,
  form,
  postToken,
  startServer,
  TOKEN_EXCHANGE,
} from './helpers.js';
import { sendRawRequest } from './raw-request.js';
import { expectOAuthError, expectTokenResponse, readJson } from './token-assertions.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
const KEYS_FILE = fileURLToPath(new URL('./fixtures/signing-keys.json', import.meta.url));
const ADMIN_TOKEN = 'admin-token-for-tests';

/** `iat` of every token minted by a test server, in seconds. */
const NOW = FROZEN_TIME / 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Members of a JWK that hold private key material. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'];

/** Loads the public halves of the committed test keys as a JWKS for jose. */
function fixturePublicKeys(): JWTVerifyGetKey {
  const jwks = JSON.parse(readFileSync(KEYS_FILE, 'utf8')) as { keys: JWK[] };
  const keys = jwks.keys.map(
    (key) =>
      Object.fromEntries(
        Object.entries(key).filter(([member]) => !PRIVATE_MEMBERS.includes(member)),
      ) as JWK,
  );
  return createLocalJWKSet({ keys });
}

const publicKeys = fixturePublicKeys();

async function startSigningServer(options: Parameters<typeof startServer>[0] = {}) {
  return startServer({ keys: { file: KEYS_FILE }, ...options });
}

async function postMint(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${url}/admin/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

interface MintResponse {
  token: string;
  claims: Record<string, unknown>;
  header: Record<string, unknown>;
}

async function mint(url: string, body: unknown): Promise<MintResponse> {
  const response = await postMint(url, body);
  expect(response.status).toBe(200);
  return (await readJson(response)) as MintResponse;
}

describe('POST /admin/tokens', () => {
  it('mints token with exact claims', async () => {
    const { url } = await startSigningServer();

    const response = await postMint(url, {
      sub: 'user-123',
      aud: 'api://my-mcp-server',
      scope: ['mcp.tools.read', 'mcp.tools.execute'],
      client_id: 'web-app',
      may_act: { sub: 'agent-1' },
    });

    expect(response.status).toBe(200);
    const body = (await readJson(response)) as MintResponse;
    expect(Object.keys(body)).toEqual(['token', 'claims', 'header']);
    expect(body.header).toEqual({ alg: 'RS256', kid: 'test-rs256', typ: 'at+jwt' });
    expect(body.claims).toEqual({
      iss: url,
      sub: 'user-123',
      aud: 'api://my-mcp-server',
      client_id: 'web-app',
      scope: 'mcp.tools.read mcp.tools.execute',
      may_act: { sub: 'agent-1' },
      iat: NOW,
      exp: NOW + 3600,
      jti: expect.stringMatching(UUID),
    });
  });

  it('token carries returned header and claims', async () => {
    const { url } = await startSigningServer();

    const body = await mint(url, { sub: 'user-123', aud: ['a', 'b'] });

    expect(decodeProtectedHeader(body.token)).toEqual(body.header);
    expect(decodeJwt(body.token)).toEqual(body.claims);
  });

  it('token verifies with fixture keys', async () => {
    const { url } = await startSigningServer();
    const body = await mint(url, { sub: 'user-123' });

    const verified = await jwtVerify(body.token, publicKeys, {
      issuer: url,
      typ: 'at+jwt',
      currentDate: new Date(FROZEN_TIME),
    });

    expect(verified.payload).toEqual(body.claims);
  });

  it('negative expiresIn mints expired token', async () => {
    const { url } = await startSigningServer();

    const body = await mint(url, { sub: 'user-123', expiresIn: -60 });

    expect(body.claims.iat).toBe(NOW);
    expect(body.claims.exp).toBe(NOW - 60);
  });

  it('negative expiresIn stops exp at 0', async () => {
    const { url } = await startSigningServer({ clock: { now: () => 10_000 } });

    const body = await mint(url, { sub: 'user-123', expiresIn: -60 });

    expect(body.claims.iat).toBe(10);
    expect(body.claims.exp).toBe(0);
  });

  it('claims replace registered claims', async () => {
    const { url } = await startSigningServer();

    const body = await mint(url, {
      sub: 'user-123',
      claims: { iss: 'https://other.example', exp: 5, jti: 'fixed-id', email: 'u@example.com' },
    });

    expect(body.claims).toEqual({
      iss: 'https://other.example',
      sub: 'user-123',
      iat: NOW,
      exp: 5,
      jti: 'fixed-id',
      email: 'u@example.com',
    });
  });

  it('sets iss, act and nbf', async () => {
    const { url } = await startSigningServer();

    const body = await mint(url, {
      iss: 'https://idp.example',
      sub: 'user-123',
      act: { sub: 'agent-0' },
      nbf: NOW + 60,
      scope: 'read',
    });

    expect(body.claims).toEqual({
      iss: 'https://idp.example',
      sub: 'user-123',
      scope: 'read',
      act: { sub: 'agent-0' },
      iat: NOW,
      nbf: NOW + 60,
      exp: NOW + 3600,
      jti: expect.stringMatching(UUID),
    });
  });

  it('typ JWT sets header', async () => {
    const { url } = await startSigningServer();

    const body = await mint(url, { sub: 'user-123', typ: 'JWT' });

    expect(body.header).toEqual({ alg: 'RS256', kid: 'test-rs256', typ: 'JWT' });
  });

  it('kid selects another key', async () => {
    const { url } = await startSigningServer();

    const body = await mint(url, { sub: 'user-123', kid: 'test-es256' });

    expect(body.header).toEqual({ alg: 'ES256', kid: 'test-es256', typ: 'at+jwt' });
    const verified = await jwtVerify(body.token, publicKeys, {
      currentDate: new Date(FROZEN_TIME),
    });
    expect(verified.protectedHeader.kid).toBe('test-es256');
  });

  it('signs with configured active key', async () => {
    const { url } = await startServer({
      keys: { file: KEYS_FILE, activeKeyId: 'test-eddsa' },
    });

    const body = await mint(url, { sub: 'user-123' });

    expect(body.header).toEqual({ alg: 'EdDSA', kid: 'test-eddsa', typ: 'at+jwt' });
  });

  it('signs with generated key', async () => {
    const { server, url } = await startServer();

    const body = await mint(url, { sub: 'user-123' });

    const jwks = createLocalJWKSet((await server.context.keys()).publicJwks());
    const verified = await jwtVerify(body.token, jwks, { currentDate: new Date(FROZEN_TIME) });
    expect(verified.protectedHeader.alg).toBe('RS256');
  });

  it('uses configured issuer', async () => {
    const { url } = await startSigningServer({ issuer: 'https://issuer.example' });

    const body = await mint(url, { sub: 'user-123' });

    expect(body.claims.iss).toBe('https://issuer.example');
  });

  it('is not recorded in request log', async () => {
    const { url } = await startSigningServer();
    await mint(url, { sub: 'user-123' });

    const response = await fetch(`${url}/log`);

    expect(await response.json()).toEqual({ entries: [], size: 0, capacity: 1000, dropped: 0 });
  });

  it('minted tokens drive delegated exchange', async () => {
    const { url, tokenUrl } = await startSigningServer({ tokenFormat: 'jwt' });
    const subject = await mint(url, { sub: 'user-123', may_act: { sub: 'agent-1' } });
    const actor = await mint(url, { sub: 'agent-1' });

    const response = await postToken(
      tokenUrl,
      form({
        grant_type: TOKEN_EXCHANGE,
        subject_token: subject.token,
        subject_token_type: ACCESS_TOKEN_TYPE,
        actor_token: actor.token,
        actor_token_type: ACCESS_TOKEN_TYPE,
        audience: 'api://downstream',
        client_id: 'gateway',
        client_secret: 'gateway-secret',
      }),
    );

    const json = await expectTokenResponse(response);
    const claims = decodeJwt(json.access_token as string);
    expect(claims.sub).toBe('user-123');
    expect(claims.act).toEqual({ sub: 'agent-1', iss: url });
  });
});

describe('POST /admin/tokens admin token', () => {
  it('rejects missing admin token', async () => {
    const { url } = await startSigningServer({ adminToken: ADMIN_TOKEN });

    const response = await postMint(url, { sub: 'user-123' });

    // RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="mock-token-exchange-server"',
    );
    await expectOAuthError(
      response,
      401,
      'invalid_token',
      'the admin token is required as a Bearer token',
    );
  });

  it('rejects wrong admin token', async () => {
    const { url } = await startSigningServer({ adminToken: ADMIN_TOKEN });

    const response = await postMint(
      url,
      { sub: 'user-123' },
      { authorization: 'Bearer not-the-admin-token' },
    );

    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer realm="mock-token-exchange-server", error="invalid_token"',
    );
    await expectOAuthError(response, 401, 'invalid_token', 'the admin token is not valid');
  });

  it('accepts correct admin token', async () => {
    const { url } = await startSigningServer({ adminToken: ADMIN_TOKEN });

    const response = await postMint(
      url,
      { sub: 'user-123' },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    );

    expect(response.status).toBe(200);
    const body = (await readJson(response)) as MintResponse;
    expect(body.claims.sub).toBe('user-123');
  });

  it('checks admin token before body', async () => {
    const { url } = await startSigningServer({ adminToken: ADMIN_TOKEN });

    const response = await fetch(`${url}/admin/tokens`, { method: 'POST', body: 'sub=x' });

    expect(response.status).toBe(401);
  });
});

describe('POST /admin/tokens validation', () => {
  const cases: Array<[string, unknown, string]> = [
    ['missing sub', {}, 'invalid token options: sub is required'],
    ['empty sub', { sub: '' }, 'invalid token options: sub must be a non-empty string'],
    [
      'unknown option',
      { sub: 'u', expires_in: 60 },
      'invalid token options: unknown option expires_in',
    ],
    [
      'fractional expiresIn',
      { sub: 'u', expiresIn: 1.5 },
      'invalid token options: expiresIn must be a whole number of seconds',
    ],
    [
      'expiresIn too large',
      { sub: 'u', expiresIn: 315_360_001 },
      'invalid token options: expiresIn must be at most 315360000',
    ],
    [
      'malformed scope',
      { sub: 'u', scope: 'a  b' },
      'invalid token options: scope must be RFC 6749 scope tokens separated by single spaces, or a non-empty array of scope tokens',
    ],
    [
      'scope array with space',
      { sub: 'u', scope: ['a b'] },
      'invalid token options: scope[0] must be one RFC 6749 scope token, without spaces',
    ],
    [
      'empty aud array',
      { sub: 'u', aud: [] },
      'invalid token options: aud must be a non-empty string or a non-empty array of non-empty strings',
    ],
    [
      'may_act not object',
      { sub: 'u', may_act: 'agent' },
      'invalid token options: may_act must be an object',
    ],
    [
      'typ with space',
      { sub: 'u', typ: 'at jwt' },
      'invalid token options: typ must be 1 to 255 printable ASCII characters without spaces',
    ],
    [
      'unknown kid',
      { sub: 'u', kid: 'no-such-key' },
      'invalid token options: kid names no signing key of this key set',
    ],
    [
      'several problems',
      { sub: 1, nbf: 'soon' },
      'invalid token options: sub must be a non-empty string; nbf must be a whole number of seconds since the epoch',
    ],
    ['array body', ['sub'], 'request body must be a JSON object'],
  ];

  for (const [name, body, description] of cases) {
    it(`rejects ${name}`, async () => {
      const { url } = await startSigningServer();

      const response = await postMint(url, body);

      await expectOAuthError(response, 400, 'invalid_request', description);
    });
  }

  it('rejects form body', async () => {
    const { url } = await startSigningServer();

    const response = await fetch(`${url}/admin/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'sub=user-123',
    });

    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'request body must be application/json',
    );
  });

  // A request without body content gets the same error however it is framed.
  const emptyFramings: Array<[string, string[]]> = [
    ['no body', []],
    ['JSON type without length', ['Content-Type: application/json']],
    ['JSON type with length 0', ['Content-Type: application/json', 'Content-Length: 0']],
    [
      'form type with length 0',
      ['Content-Type: application/x-www-form-urlencoded', 'Content-Length: 0'],
    ],
  ];

  for (const [name, headerLines] of emptyFramings) {
    it(`rejects ${name}`, async () => {
      const { url } = await startSigningServer();

      const response = await sendRawRequest(url, 'POST', '/admin/tokens', headerLines);

      await expectOAuthError(
        response,
        400,
        'invalid_request',
        'request body must be a JSON object',
      );
    });
  }

  it('rejects empty string body', async () => {
    const { url } = await startSigningServer();

    const response = await fetch(`${url}/admin/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '',
    });

    await expectOAuthError(response, 400, 'invalid_request', 'request body must be a JSON object');
  });

  it('rejects malformed JSON', async () => {
    const { url } = await startSigningServer();

    const response = await fetch(`${url}/admin/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"sub":',
    });

    await expectOAuthError(response, 400, 'invalid_request', 'request body is not valid JSON');
  });

  it('GET answers 405', async () => {
    const { url } = await startSigningServer();

    const response = await fetch(`${url}/admin/tokens`);

    expect(response.headers.get('allow')).toBe('POST');
    await expectOAuthError(response, 405, 'invalid_request', 'method not allowed, use POST');
  });
});

describe('server.mintToken', () => {
  it('defaults iss to server URL', async () => {
    const { server, url } = await startSigningServer();

    const minted = await server.mintToken({ sub: 'user-123', aud: 'api://a' });

    expect(minted.claims).toEqual({
      iss: url,
      sub: 'user-123',
      aud: 'api://a',
      iat: NOW,
      exp: NOW + 3600,
      jti: expect.stringMatching(UUID),
    });
    expect(minted.header).toEqual({ alg: 'RS256', kid: 'test-rs256', typ: 'at+jwt' });
  });

  it('token verifies with fixture keys', async () => {
    const { server, url } = await startSigningServer();

    const minted = await server.mintToken({ sub: 'user-123' });

    const verified = await jwtVerify(minted.token, publicKeys, {
      issuer: url,
      currentDate: new Date(FROZEN_TIME),
    });
    expect(verified.payload).toEqual(minted.claims);
  });

  it('uses configured issuer before listen', async () => {
    const server = createServer({
      issuer: 'https://issuer.example',
      keys: { file: KEYS_FILE },
      clock: frozenClock(FROZEN_TIME),
      logLevel: 'silent',
    });

    const minted = await server.mintToken({ sub: 'user-123' });

    expect(minted.claims.iss).toBe('https://issuer.example');
  });

  it('needs iss before listen', async () => {
    const server = createServer({ keys: { file: KEYS_FILE }, logLevel: 'silent' });

    await expect(server.mintToken({ sub: 'user-123' })).rejects.toThrow(
      'the server has no issuer before listen(); pass iss or listen first',
    );
  });

  it('accepts explicit iss before listen', async () => {
    const server = createServer({ keys: { file: KEYS_FILE }, logLevel: 'silent' });

    const minted = await server.mintToken({ sub: 'user-123', iss: 'https://idp.example' });

    expect(minted.claims.iss).toBe('https://idp.example');
  });

  it('rejects invalid options', async () => {
    const { server } = await startSigningServer();

    const result = server.mintToken({ sub: 'user-123', expiresIn: 'soon' as unknown as number });

    await expect(result).rejects.toBeInstanceOf(MintOptionsError);
    await expect(result).rejects.toThrow(
      'invalid token options: expiresIn must be a whole number of seconds',
    );
  });
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `mint` in the built CLI and waits for it to exit. */
function runMint(args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, 'mint', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mint ${args.join(' ')} did not exit`));
    }, 10_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('mint CLI subcommand', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) {
      throw new Error(`${CLI} is missing: run npm run build before these tests`);
    }
  });

  it('prints a verifiable token', async () => {
    const result = await runMint([
      '--keys-file',
      KEYS_FILE,
      '--kid',
      'test-es256',
      '--sub',
      'user-123',
      '--aud',
      'api://a',
      '--aud',
      'api://b',
      '--scope',
      'read write',
      '--expires-in',
      '300',
      '--may-act-sub',
      'agent-1',
      '--act-sub',
      'agent-0',
      '--client-id',
      'web-app',
      '--claim',
      'email=u@example.com',
      '--claim',
      'level=3',
      '--claim',
      'roles=["admin"]',
      '--issuer',
      'https://idp.example',
      '--typ',
      'JWT',
    ]);

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const { payload, protectedHeader } = await jwtVerify(result.stdout.trim(), publicKeys, {
      issuer: 'https://idp.example',
      typ: 'JWT',
    });
    expect(protectedHeader).toEqual({ alg: 'ES256', kid: 'test-es256', typ: 'JWT' });
    expect(payload).toEqual({
      iss: 'https://idp.example',
      sub: 'user-123',
      aud: ['api://a', 'api://b'],
      client_id: 'web-app',
      scope: 'read write',
      may_act: { sub: 'agent-1' },
      act: { sub: 'agent-0' },
      iat: expect.any(Number),
      exp: (payload.iat as number) + 300,
      jti: expect.stringMatching(UUID),
      email: 'u@example.com',
      level: 3,
      roles: ['admin'],
    });
  });

  it('defaults issuer and first key', async () => {
    const result = await runMint(['--keys-file', KEYS_FILE, '--sub', 'user-123']);

    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    expect(decodeProtectedHeader(token)).toEqual({
      alg: 'RS256',
      kid: 'test-rs256',
      typ: 'at+jwt',
    });
    const claims = decodeJwt(token);
    expect(claims.iss).toBe('http://127.0.0.1:9999');
    expect(claims.exp).toBe((claims.iat as number) + 3600);
  });

  it('negative expires-in mints expired token', async () => {
    const result = await runMint(['--keys-file', KEYS_FILE, '--sub', 'u', '--expires-in', '-60']);

    expect(result.code).toBe(0);
    const claims = decodeJwt(result.stdout.trim());
    expect(claims.exp).toBe((claims.iat as number) - 60);
  });

  it('single aud is a string', async () => {
    const result = await runMint(['--keys-file', KEYS_FILE, '--sub', 'u', '--aud', 'api://a']);

    expect(result.code).toBe(0);
    expect(decodeJwt(result.stdout.trim()).aud).toBe('api://a');
  });

  const failures: Array<[string, string[], string]> = [
    [
      'missing sub',
      ['--keys-file', KEYS_FILE],
      "error: required option '--sub <subject>' not specified\n",
    ],
    [
      'unknown kid',
      ['--keys-file', KEYS_FILE, '--sub', 'u', '--kid', 'no-such-key'],
      `error: key file ${KEYS_FILE}: no key has the active kid no-such-key\n`,
    ],
    [
      'claim without name',
      ['--keys-file', KEYS_FILE, '--sub', 'u', '--claim', '=3'],
      "error: option '--claim <name=value>' argument '=3' is invalid. must be name=value with a non-empty name.\n",
    ],
    [
      'repeated claim',
      ['--keys-file', KEYS_FILE, '--sub', 'u', '--claim', 'a=1', '--claim', 'a=2'],
      "error: option '--claim <name=value>' argument 'a=2' is invalid. claim a is given more than once.\n",
    ],
    [
      'fractional expires-in',
      ['--keys-file', KEYS_FILE, '--sub', 'u', '--expires-in', '1.5'],
      "error: option '--expires-in <seconds>' argument '1.5' is invalid. must be a whole number.\n",
    ],
    [
      'malformed scope',
      ['--keys-file', KEYS_FILE, '--sub', 'u', '--scope', 'a  b'],
      'error: invalid token options: scope must be RFC 6749 scope tokens separated by single spaces, or a non-empty array of scope tokens\n',
    ],
  ];

  for (const [name, args, message] of failures) {
    it(`exits 2 on ${name}`, async () => {
      const result = await runMint(args);

      expect(result.code).toBe(2);
      expect(result.stderr).toBe(message);
      expect(result.stdout).toBe('');
    });
  }

  it('exits 2 on missing key file', async () => {
    const result = await runMint(['--keys-file', join(ROOT, 'no-such-keys.json'), '--sub', 'u']);

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: cannot read key file .*no-such-keys\.json: ENOENT/);
  });
});
