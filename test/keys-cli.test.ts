import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exchangeBody, postToken, startServer } from './helpers.js';
import { issueToken } from './token-assertions.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
const KEYS_FILE = fileURLToPath(new URL('./fixtures/signing-keys.json', import.meta.url));
const PROCESS_TIMEOUT_MS = 10_000;
const BANNER = /listening on (http:\/\/127\.0\.0\.1:(\d+))/;
const PRIVATE_JWK_MEMBERS: Record<string, string[]> = {
  RS256: ['alg', 'd', 'dp', 'dq', 'e', 'kid', 'kty', 'n', 'p', 'q', 'qi', 'use'],
  PS256: ['alg', 'd', 'dp', 'dq', 'e', 'kid', 'kty', 'n', 'p', 'q', 'qi', 'use'],
  ES256: ['alg', 'crv', 'd', 'kid', 'kty', 'use', 'x', 'y'],
  EdDSA: ['alg', 'crv', 'd', 'kid', 'kty', 'use', 'x'],
};

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunningCli {
  child: ChildProcess;
  url: string;
  stdout(): string;
}

const children: ChildProcess[] = [];
let tempDirectory: string | undefined;

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  if (tempDirectory !== undefined) await rm(tempDirectory, { recursive: true, force: true });
  tempDirectory = undefined;
});

beforeAll(() => {
  if (!existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run npm run build before these tests`);
  }
});

async function tempPath(name: string): Promise<string> {
  tempDirectory ??= await mkdtemp(join(tmpdir(), 'mtes-keys-'));
  return join(tempDirectory, name);
}

/** Returns the test runner's environment without any `MTES_` variable, plus `extra`. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('MTES_')) env[name] = value;
  }
  return { ...env, ...extra };
}

function spawnCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
  });
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

function timeout(ms: number, message: string): Promise<never> {
  return new Promise((_resolve, reject) => {
    setTimeout(() => reject(new Error(message)), ms).unref();
  });
}

/** Runs the CLI to completion. */
async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const cli = spawnCli(args, env);
  const code = await Promise.race([
    cli.exited,
    timeout(PROCESS_TIMEOUT_MS, `CLI ${args.join(' ')} did not exit`),
  ]);
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Starts the CLI server on a free port and waits for the banner line that names its URL. */
async function startCli(args: string[], env: Record<string, string> = {}): Promise<RunningCli> {
  const cli = spawnCli(['--port', '0', ...args], env);
  const listening = new Promise<string>((resolve, reject) => {
    cli.child.stdout?.on('data', () => {
      const match = BANNER.exec(cli.stdout());
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    cli.exited.then((code) =>
      reject(new Error(`CLI exited with ${code} before listening: ${cli.stderr()}`)),
    );
  });
  const url = await Promise.race([
    listening,
    timeout(PROCESS_TIMEOUT_MS, `CLI did not print its URL: ${cli.stdout()}`),
  ]);
  return { child: cli.child, url, stdout: cli.stdout };
}

async function readKeys(path: string): Promise<JWK[]> {
  return (JSON.parse(await readFile(path, 'utf8')) as { keys: JWK[] }).keys;
}

async function publishedKids(url: string): Promise<unknown[]> {
  const response = await fetch(`${url}/.well-known/jwks.json`);
  expect(response.status).toBe(200);
  const jwks = (await response.json()) as { keys: JWK[] };
  return jwks.keys.map((key) => key.kid);
}

async function exchangeJwt(url: string, headers: Record<string, string> = {}): Promise<string> {
  return issueToken(`${url}/oauth2/token`, exchangeBody(), headers);
}

/** Sends a GET with headers that fetch cannot set, and returns the parsed JSON body. */
function getJson(url: string, path: string, headers: Record<string, string>): Promise<unknown> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: hostname, port, path, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve(JSON.parse(body)));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('keys generate', () => {
  it('prints RS256 JWKS by default', async () => {
    const result = await runCli(['keys', 'generate']);

    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const keys = (JSON.parse(result.stdout) as { keys: JWK[] }).keys;
    expect(keys).toHaveLength(1);
    expect(Object.keys(keys[0] ?? {}).sort()).toEqual(PRIVATE_JWK_MEMBERS.RS256);
    expect(keys[0]?.alg).toBe('RS256');
    expect(keys[0]?.use).toBe('sig');
    expect(keys[0]?.kid).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it.each(['RS256', 'PS256', 'ES256', 'EdDSA'])('generated %s key loads', async (alg) => {
    const result = await runCli(['keys', 'generate', '--alg', alg, '--kid', `key-${alg}`]);
    const path = await tempPath('keys.json');
    await writeFile(path, result.stdout, 'utf8');

    const server = await startServer({ tokenFormat: 'jwt', keys: { file: path } });
    const token = await exchangeJwt(server.url);

    expect(result.code).toBe(0);
    expect(Object.keys((await readKeys(path))[0] ?? {}).sort()).toEqual(PRIVATE_JWK_MEMBERS[alg]);
    expect(decodeProtectedHeader(token)).toEqual({ alg, kid: `key-${alg}`, typ: 'at+jwt' });
  });

  it('--out writes owner-only file', async () => {
    const path = await tempPath('out.json');

    const result = await runCli([
      'keys',
      'generate',
      '--alg',
      'ES256',
      '--kid',
      'k1',
      '--out',
      path,
    ]);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`wrote key k1 (ES256) to ${path}\n`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readKeys(path)).map((key) => key.kid)).toEqual(['k1']);
  });

  it('CLI serves generated key', async () => {
    const path = await tempPath('served.json');
    await runCli(['keys', 'generate', '--alg', 'EdDSA', '--kid', 'served-key', '--out', path]);

    const cli = await startCli(['--keys-file', path]);

    expect(await publishedKids(cli.url)).toEqual(['served-key']);
  });

  it('--out refuses existing file', async () => {
    const path = await tempPath('existing.json');
    await writeFile(path, 'keep me', 'utf8');

    const result = await runCli(['keys', 'generate', '--out', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `error: ${path} already exists. Use --add-to to add a key to it, or choose another --out file\n`,
    );
    expect(await readFile(path, 'utf8')).toBe('keep me');
  });

  it('--add-to appends a key', async () => {
    const path = await tempPath('rotate.json');
    await runCli(['keys', 'generate', '--kid', 'old', '--out', path]);
    const [old] = await readKeys(path);

    const result = await runCli([
      'keys',
      'generate',
      '--alg',
      'ES256',
      '--kid',
      'new',
      '--add-to',
      path,
    ]);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      `added key new (ES256) to ${path}. It signs once keys.activeKeyId names it.\n`,
    );
    const keys = await readKeys(path);
    expect(keys.map((key) => key.kid)).toEqual(['old', 'new']);
    expect(keys[0]).toEqual(old);
    expect(keys[1]?.alg).toBe('ES256');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('added key publishes then signs', async () => {
    const path = await tempPath('rotate.json');
    await runCli(['keys', 'generate', '--kid', 'old', '--out', path]);
    await runCli(['keys', 'generate', '--alg', 'ES256', '--kid', 'new', '--add-to', path]);

    const before = await startServer({ tokenFormat: 'jwt', keys: { file: path } });
    const after = await startServer({
      tokenFormat: 'jwt',
      keys: { file: path, activeKeyId: 'new' },
    });

    expect(await publishedKids(before.url)).toEqual(['old', 'new']);
    expect(decodeProtectedHeader(await exchangeJwt(before.url)).kid).toBe('old');
    expect(decodeProtectedHeader(await exchangeJwt(after.url)).kid).toBe('new');
  });

  it('--add-to rejects duplicate kid', async () => {
    const path = await tempPath('dup.json');
    await runCli(['keys', 'generate', '--kid', 'same', '--out', path]);
    const before = await readFile(path, 'utf8');

    const result = await runCli(['keys', 'generate', '--kid', 'same', '--add-to', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`error: key file ${path} already has a key with kid same\n`);
    expect(await readFile(path, 'utf8')).toBe(before);
  });

  it('--add-to rejects missing file', async () => {
    const path = await tempPath('missing.json');

    const result = await runCli(['keys', 'generate', '--add-to', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `error: cannot read key file ${path}: ENOENT: no such file or directory, open '${path}'\n`,
    );
  });

  it('--add-to rejects non-JWKS file', async () => {
    const path = await tempPath('bad.json');
    await writeFile(path, '{"keys": []}', 'utf8');

    const result = await runCli(['keys', 'generate', '--add-to', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `error: key file ${path} must be a JWKS: an object with a non-empty "keys" array\n`,
    );
  });

  it('--out conflicts with --add-to', async () => {
    const result = await runCli(['keys', 'generate', '--out', 'a.json', '--add-to', 'b.json']);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "error: option '--out <file>' cannot be used with option '--add-to <file>'\n",
    );
  });

  it('bad --alg exits 2', async () => {
    const result = await runCli(['keys', 'generate', '--alg', 'HS256']);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      "error: option '--alg <algorithm>' argument 'HS256' is invalid. Allowed choices are RS256, PS256, ES256, EdDSA.\n",
    );
  });

  it('empty --kid exits 2', async () => {
    const result = await runCli(['keys', 'generate', '--kid', '']);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "error: option '--kid <id>' argument '' is invalid. must not be empty.\n",
    );
  });
});

describe('CLI signing options', () => {
  it('--token-format jwt with --keys-file', async () => {
    const cli = await startCli(['--token-format', 'jwt', '--keys-file', KEYS_FILE]);

    const token = await exchangeJwt(cli.url);

    expect(decodeProtectedHeader(token)).toEqual({
      alg: 'RS256',
      kid: 'test-rs256',
      typ: 'at+jwt',
    });
  });

  it('environment sets token format and keys', async () => {
    const cli = await startCli([], { MTES_TOKEN_FORMAT: 'jwt', MTES_KEYS_FILE: KEYS_FILE });

    const token = await exchangeJwt(cli.url);

    expect(decodeProtectedHeader(token).kid).toBe('test-rs256');
  });

  it('--signing-alg sets generated key', async () => {
    const cli = await startCli(['--token-format', 'jwt', '--signing-alg', 'ES256']);

    const token = await exchangeJwt(cli.url);

    expect(decodeProtectedHeader(token).alg).toBe('ES256');
  });

  it('MTES_SIGNING_ALG sets generated key', async () => {
    const cli = await startCli(['--token-format', 'jwt'], { MTES_SIGNING_ALG: 'EdDSA' });

    const token = await exchangeJwt(cli.url);

    expect(decodeProtectedHeader(token).alg).toBe('EdDSA');
  });

  it('--keys-file keeps config activeKeyId', async () => {
    const config = await tempPath('config.json');
    await writeFile(config, JSON.stringify({ keys: { activeKeyId: 'test-es256' } }), 'utf8');

    const cli = await startCli([
      '--config',
      config,
      '--token-format',
      'jwt',
      '--keys-file',
      KEYS_FILE,
    ]);
    const token = await exchangeJwt(cli.url);

    expect(decodeProtectedHeader(token).kid).toBe('test-es256');
  });

  it('--issuer sets iss and metadata path', async () => {
    const cli = await startCli(['--token-format', 'jwt', '--issuer', 'http://issuer.test/t']);

    const token = await exchangeJwt(cli.url);
    const response = await fetch(`${cli.url}/.well-known/oauth-authorization-server/t`);

    expect(decodeJwt(token).iss).toBe('http://issuer.test/t');
    expect(((await response.json()) as { issuer: string }).issuer).toBe('http://issuer.test/t');
  });

  it('MTES_ISSUER sets iss', async () => {
    const cli = await startCli(['--token-format', 'jwt'], { MTES_ISSUER: 'http://issuer.test' });

    const token = await exchangeJwt(cli.url);

    expect(decodeJwt(token).iss).toBe('http://issuer.test');
  });

  it('empty environment values count as unset', async () => {
    const cli = await startCli([], {
      MTES_TOKEN_FORMAT: '',
      MTES_ISSUER: '',
      MTES_KEYS_FILE: '',
      MTES_SIGNING_ALG: '',
      MTES_TRUST_PROXY: '',
    });

    const response = await postToken(`${cli.url}/oauth2/token`, exchangeBody());
    const body = (await response.json()) as { access_token: string };

    expect(body.access_token).toBe('exchanged-53a23a852c28f3be-for-api://my-mcp-server');
  });

  it('--trust-proxy uses forwarded origin', async () => {
    const cli = await startCli(['--trust-proxy']);

    const document = await getJson(cli.url, '/.well-known/oauth-authorization-server', {
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'auth.example',
    });

    expect((document as { issuer: string }).issuer).toBe('https://auth.example');
  });

  it('MTES_TRUST_PROXY=true uses forwarded origin', async () => {
    const cli = await startCli([], { MTES_TRUST_PROXY: 'true' });

    const document = await getJson(cli.url, '/.well-known/oauth-authorization-server', {
      'x-forwarded-host': 'auth.example',
    });

    expect((document as { issuer: string }).issuer).toBe('http://auth.example');
  });

  it('forwarded headers ignored by default', async () => {
    const cli = await startCli([]);

    const document = await getJson(cli.url, '/.well-known/oauth-authorization-server', {
      'x-forwarded-host': 'auth.example',
    });

    expect((document as { issuer: string }).issuer).toBe(cli.url);
  });

  it('bad --token-format exits 2', async () => {
    const result = await runCli(['--token-format', 'xml']);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "error: option '--token-format <format>' argument 'xml' is invalid. must be one of opaque, jwt.\n",
    );
  });

  it('bad MTES_SIGNING_ALG exits 2', async () => {
    const result = await runCli([], { MTES_SIGNING_ALG: 'HS256' });

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "error: option '--signing-alg <algorithm>' value 'HS256' from env 'MTES_SIGNING_ALG' is invalid. must be one of RS256, PS256, ES256, EdDSA.\n",
    );
  });

  it('missing --keys-file exits 2', async () => {
    const path = await tempPath('absent.json');

    const result = await runCli(['--port', '0', '--keys-file', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `error: cannot read key file ${path}: ENOENT: no such file or directory, open '${path}'\n`,
    );
  });

  it('invalid --issuer exits 2', async () => {
    const result = await runCli(['--issuer', 'http://issuer.test/a/../b']);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: invalid configuration:\n' +
        'issuer: path must be in normalized form, without . or .. segments ' +
        '(received "http://issuer.test/a/../b")\n',
    );
  });

  it('banner lists discovery endpoints', async () => {
    const cli = await startCli(['--issuer', 'http://issuer.test/t']);

    const stdout = cli.stdout();

    expect(stdout).toContain(`GET    ${cli.url}/.well-known/jwks.json`);
    expect(stdout).toContain(`GET    ${cli.url}/.well-known/oauth-authorization-server  `);
    expect(stdout).toContain(`GET    ${cli.url}/.well-known/oauth-authorization-server/t  `);
    expect(stdout).toContain(`GET    ${cli.url}/t/.well-known/openid-configuration  `);
    expect(stdout).toContain(`GET    ${cli.url}/.well-known/openid-configuration/t  `);
    expect(stdout).toContain(`GET    ${cli.url}/oauth2/authorize  `);
  });
});
