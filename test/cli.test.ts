import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exchangeBody, postToken, startServer } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
const PACKAGE_VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/** Time allowed for the CLI to start or exit before a test gives up. */
const PROCESS_TIMEOUT_MS = 10_000;
const BANNER = /listening on (http:\/\/127\.0\.0\.1:(\d+))/;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
}

interface RunningCli extends CliProcess {
  url: string;
  tokenUrl: string;
}

const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

let tempDirectory: string | undefined;

afterEach(async () => {
  if (tempDirectory !== undefined) await rm(tempDirectory, { recursive: true, force: true });
  tempDirectory = undefined;
});

async function writeTempFile(name: string, text: string): Promise<string> {
  tempDirectory ??= await mkdtemp(join(tmpdir(), 'mtes-cli-'));
  const path = join(tempDirectory, name);
  await writeFile(path, text, 'utf8');
  return path;
}

/** Returns the test runner's environment without any `MTES_` variable, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('MTES_')) env[name] = value;
  }
  return { ...env, ...extra };
}

/** Spawns the built CLI. The process is killed after the test if it is still running. */
function spawnCli(args: string[], env: Record<string, string> = {}): CliProcess {
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
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Rejects after `ms` milliseconds with `message`, for racing against a process. */
function timeout(ms: number, message: string): Promise<never> {
  return new Promise((_resolve, reject) => {
    setTimeout(() => reject(new Error(message)), ms).unref();
  });
}

/** Runs the CLI to completion. */
async function runCli(args: string[], env: Record<string, string> = {}) {
  const cli = spawnCli(args, env);
  const exit = await Promise.race([
    cli.exited,
    timeout(PROCESS_TIMEOUT_MS, `CLI ${args.join(' ')} did not exit`),
  ]);
  return { ...exit, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Starts the CLI on a free port and waits for the banner line that names its URL. */
async function startCli(args: string[], env: Record<string, string> = {}): Promise<RunningCli> {
  const cli = spawnCli(['--port', '0', ...args], env);
  const listening = new Promise<string>((resolve, reject) => {
    const check = () => {
      const match = BANNER.exec(cli.stdout());
      if (match?.[1] !== undefined) resolve(match[1]);
    };
    cli.child.stdout?.on('data', check);
    cli.exited.then((exit) =>
      reject(new Error(`CLI exited with ${exit.code} before listening: ${cli.stderr()}`)),
    );
  });
  const url = await Promise.race([
    listening,
    timeout(PROCESS_TIMEOUT_MS, `CLI did not print its URL: ${cli.stdout()}`),
  ]);
  return { ...cli, url, tokenUrl: `${url}/oauth2/token` };
}

/**
 * Waits until the CLI's standard output contains `text`. pino writes log lines on its own,
 * asynchronously, so they can reach the output after the banner that the CLI writes itself.
 */
async function outputContains(cli: CliProcess, text: string): Promise<string> {
  const deadline = Date.now() + PROCESS_TIMEOUT_MS;
  while (!cli.stdout().includes(text)) {
    if (Date.now() > deadline) throw new Error(`CLI did not write ${text}: ${cli.stdout()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return cli.stdout();
}

/**
 * Waits for the startup log line that Fastify writes once listening. Lines go out in the order
 * they are logged, so every startup warning is in the output by then.
 */
function startupLogged(cli: CliProcess): Promise<string> {
  return outputContains(cli, '"msg":"Server listening at');
}

async function stop(cli: CliProcess, signal: NodeJS.Signals): Promise<Exit> {
  cli.child.kill(signal);
  return Promise.race([cli.exited, timeout(PROCESS_TIMEOUT_MS, `CLI ignored ${signal}`)]);
}

/** Parses the JSON server log lines that the CLI wrote to standard output. */
function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function exchange(cli: RunningCli, overrides: Record<string, string> = {}) {
  const response = await postToken(cli.tokenUrl, exchangeBody(overrides));
  expect(response.status).toBe(200);
  return (await response.json()) as { access_token: string; expires_in: number };
}

async function logCapacity(cli: RunningCli): Promise<number> {
  const response = await fetch(`${cli.url}/log`);
  return ((await response.json()) as { capacity: number }).capacity;
}

beforeAll(() => {
  if (!existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run npm run build before these tests`);
  }
});

describe('CLI server', () => {
  it('build output exists', () => {
    expect(existsSync(CLI)).toBe(true);
  });

  it('serves README curl exchange', async () => {
    const inProcess = await startServer();
    const expected = await (await postToken(inProcess.tokenUrl, exchangeBody())).json();
    const cli = await startCli([]);

    const response = await postToken(cli.tokenUrl, exchangeBody());

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(expected);
    expect(await stop(cli, 'SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('banner lists endpoints', async () => {
    const cli = await startCli([]);

    const stdout = cli.stdout();

    expect(stdout).toContain(`mock-token-exchange-server ${PACKAGE_VERSION} listening on`);
    expect(stdout).toContain(`POST   ${cli.url}/oauth2/token`);
    expect(stdout).toContain(`GET    ${cli.url}/health`);
    expect(stdout).toContain(`GET    ${cli.url}/log`);
    expect(stdout).toContain(`DELETE ${cli.url}/log`);
  });

  it('SIGINT exits cleanly', async () => {
    const cli = await startCli([]);

    expect(await stop(cli, 'SIGINT')).toEqual({ code: 0, signal: null });
    expect(cli.stderr()).toBe('');
  });

  it('warns about open client registry', async () => {
    const cli = await startCli([]);

    const warnings = logLines(await startupLogged(cli)).filter((line) => line.level === 40);

    expect(warnings.map((line) => line.msg)).toContain(
      'no clients configured: any client id and secret is accepted',
    );
  });

  it('no warning with clients configured', async () => {
    const path = await writeTempFile(
      'clients.yaml',
      'clients:\n  - clientId: litellm-client\n    clientSecret: litellm-secret\n',
    );
    const cli = await startCli(['--config', path]);
    await exchange(cli);

    const messages = logLines(await startupLogged(cli)).map((line) => line.msg);

    expect(messages).not.toContain('no clients configured: any client id and secret is accepted');
  });
});

describe('CLI options', () => {
  it('help lists every option', async () => {
    const result = await runCli(['--help']);

    expect(result.code).toBe(0);
    for (const flag of [
      '--port',
      '--host',
      '--config',
      '--token-ttl',
      '--log-size',
      '--log-level',
      '--admin-token',
      '--unsafe-log-tokens',
    ]) {
      expect(result.stdout, flag).toContain(flag);
    }
  });

  it('version prints package version', async () => {
    const result = await runCli(['--version']);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${PACKAGE_VERSION}\n`);
  });

  it('port abc rejected', async () => {
    const result = await runCli(['--port', 'abc']);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "error: option '-p, --port <number>' argument 'abc' is invalid. must be a whole number.\n",
    );
  });

  it('unknown log level rejected', async () => {
    const result = await runCli(['--log-level', 'loud']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("argument 'loud' is invalid");
  });

  it('port out of range exits 2', async () => {
    const result = await runCli(['--port', '70000']);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: invalid configuration:\nport: Too big: expected number to be <=65535 (received 70000)\n',
    );
  });
});

describe('CLI config file', () => {
  it('unknown key exits 2', async () => {
    const path = await writeTempFile('typo.yaml', 'port: 0\nprot: 1\n');

    const result = await runCli(['--config', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: invalid configuration:\nprot: unknown option\n');
    expect(result.stderr).not.toMatch(/^ {4}at /m);
  });

  it('nested unknown key exits 2', async () => {
    const path = await writeTempFile('nested.json', '{"requestLog": {"size": 5}}');

    const result = await runCli(['--config', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: invalid configuration:\nrequestLog.size: unknown option\n');
  });

  it('missing file exits 2', async () => {
    const path = join(tmpdir(), 'mtes-cli-no-such-dir', 'absent.yaml');

    const result = await runCli(['--config', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: cannot read config file .*absent\.yaml: ENOENT/);
    expect(result.stderr).not.toMatch(/^ {4}at /m);
  });

  it('syntax error exits 2', async () => {
    const path = await writeTempFile('broken.yaml', 'port: [0\n');

    const result = await runCli(['--config', path]);

    expect(result.code).toBe(2);
    expect(result.stderr.startsWith(`error: cannot parse config file ${path}: `)).toBe(true);
    expect(result.stderr).not.toMatch(/^ {4}at /m);
  });

  it('secret not echoed on syntax error', async () => {
    const path = await writeTempFile(
      'unclosed.yaml',
      'clients:\n  - clientId: gateway\n    clientSecret: "s3cr3t-VALUE-123\n',
    );

    const result = await runCli(['--config', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `error: cannot parse config file ${path}: invalid YAML (MISSING_CHAR) at line 4, column 1\n`,
    );
  });

  it('secret not echoed on JSON error', async () => {
    const path = await writeTempFile('unclosed.json', '{"adminToken": "s3cr3t-VALUE-123",}');

    const result = await runCli(['--config', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).not.toContain('s3cr3t-VALUE-123');
    expect(result.stderr).toMatch(
      /^error: cannot parse config file .*: invalid JSON at line 1, column \d+\n$/,
    );
  });

  it('secret not echoed on error', async () => {
    const path = await writeTempFile(
      'secret.yaml',
      'clients:\n  clientId: gateway\n  clientSecret: s3cr3t-VALUE-123\n',
    );

    const result = await runCli(['--config', path]);

    expect(result.code).toBe(2);
    expect(result.stderr).not.toContain('s3cr3t-VALUE-123');
  });
});

describe('CLI environment', () => {
  it('env variables take effect', async () => {
    const cli = await startCli([], { MTES_TOKEN_TTL: '120', MTES_LOG_SIZE: '2' });

    const token = await exchange(cli);

    expect(token.expires_in).toBe(120);
    expect(await logCapacity(cli)).toBe(2);
  });

  it('flag beats env variable', async () => {
    const cli = await startCli(['--token-ttl', '60', '--log-size', '4'], {
      MTES_TOKEN_TTL: '120',
      MTES_LOG_SIZE: '2',
    });

    const token = await exchange(cli);

    expect(token.expires_in).toBe(60);
    expect(await logCapacity(cli)).toBe(4);
  });

  it('env variable beats config file', async () => {
    const path = await writeTempFile(
      'ttl.yaml',
      'tokenTtl: 300\nrequestLog:\n  maxEntries: 5\n  unsafeIncludeTokens: true\n',
    );
    const cli = await startCli(['--config', path], { MTES_TOKEN_TTL: '120', MTES_LOG_SIZE: '2' });

    const token = await exchange(cli);

    expect(token.expires_in).toBe(120);
    expect(await logCapacity(cli)).toBe(2);
  });

  it('env log size keeps file settings', async () => {
    const path = await writeTempFile(
      'unsafe.yaml',
      'requestLog:\n  maxEntries: 5\n  unsafeIncludeTokens: true\n',
    );
    const cli = await startCli(['--config', path], { MTES_LOG_SIZE: '2' });
    const token = await exchange(cli);

    const response = await fetch(`${cli.url}/log`);
    const log = (await response.json()) as { entries: Array<{ issuedToken: { value?: string } }> };

    expect(log.entries[0]?.issuedToken.value).toBe(token.access_token);
  });

  it('config file used alone', async () => {
    const path = await writeTempFile(
      'ttl.json',
      '{"tokenTtl": 300, "requestLog": {"maxEntries": 5}}',
    );
    const cli = await startCli(['--config', path]);

    const token = await exchange(cli);

    expect(token.expires_in).toBe(300);
    expect(await logCapacity(cli)).toBe(5);
  });

  it('config file from env variable', async () => {
    const path = await writeTempFile('env-config.yaml', 'tokenTtl: 45\n');
    const cli = await startCli([], { MTES_CONFIG: path });

    const token = await exchange(cli);

    expect(token.expires_in).toBe(45);
  });

  it('empty env variables count as unset', async () => {
    const cli = await startCli([], { MTES_LOG_LEVEL: '', MTES_TOKEN_TTL: '', MTES_HOST: '' });

    const token = await exchange(cli);

    expect(token.expires_in).toBe(3600);
  });

  it('invalid env variable rejected', async () => {
    const result = await runCli(['--port', '0'], { MTES_TOKEN_TTL: 'soon' });

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "error: option '--token-ttl <seconds>' value 'soon' from env 'MTES_TOKEN_TTL' is invalid. must be a whole number.\n",
    );
  });
});

describe('CLI unsafe token flag', () => {
  it('env value false keeps it off', async () => {
    const cli = await startCli([], { MTES_UNSAFE_LOG_TOKENS: 'false' });
    const token = await exchange(cli);

    const log = await (await fetch(`${cli.url}/log`)).text();

    expect(log).not.toContain(token.access_token);
    expect(await startupLogged(cli)).not.toContain('unsafeIncludeTokens is on');
  });

  it('env value true turns it on', async () => {
    const cli = await startCli([], { MTES_UNSAFE_LOG_TOKENS: 'true' });
    const token = await exchange(cli);

    const log = await (await fetch(`${cli.url}/log`)).text();

    expect(log).toContain(token.access_token);
    expect(await startupLogged(cli)).toContain('unsafeIncludeTokens is on');
  });

  it('unknown env value exits 2', async () => {
    const result = await runCli(['--port', '0'], { MTES_UNSAFE_LOG_TOKENS: 'maybe' });

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: MTES_UNSAFE_LOG_TOKENS must be one of 1, true, yes, on, 0, false, no, off (received "maybe")\n',
    );
  });
});

describe('CLI shutdown', () => {
  let agent: Agent | undefined;

  afterEach(() => {
    agent?.destroy();
    agent = undefined;
  });

  it('SIGTERM waits for request in flight', async () => {
    const cli = await startCli([]);
    const port = Number(new URL(cli.url).port);
    const body = exchangeBody();
    const half = Math.floor(body.length / 2);
    // A client that keeps idle connections open for a minute, longer than the exit timeout.
    agent = new Agent({ keepAlive: true, timeout: 60_000 });

    const request = httpRequest({
      host: '127.0.0.1',
      port,
      path: '/oauth2/token',
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
      },
    });
    const response = new Promise<{ status: number | undefined; connection: string; body: string }>(
      (resolve, reject) => {
        request.on('response', (incoming) => {
          let text = '';
          incoming.setEncoding('utf8');
          incoming.on('data', (chunk: string) => {
            text += chunk;
          });
          incoming.on('end', () =>
            resolve({
              status: incoming.statusCode,
              connection: String(incoming.headers.connection),
              body: text,
            }),
          );
        });
        request.on('error', reject);
      },
    );
    request.write(body.slice(0, half));
    // The headers must have reached the server before the signal, or the request is not in flight.
    await new Promise((resolve) => setTimeout(resolve, 200));

    cli.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const runningAfterSignal = cli.child.exitCode === null;
    request.end(body.slice(half));
    const result = await response;

    expect(runningAfterSignal).toBe(true);
    expect(result.status).toBe(200);
    expect(result.connection).toBe('close');
    expect((JSON.parse(result.body) as { access_token: string }).access_token).toBe(
      'exchanged-53a23a852c28f3be-for-api://my-mcp-server',
    );
    expect(
      await Promise.race([cli.exited, timeout(PROCESS_TIMEOUT_MS, 'CLI did not exit')]),
    ).toEqual({ code: 0, signal: null });
  });

  it('refuses new connections after SIGTERM', async () => {
    const cli = await startCli([]);

    await stop(cli, 'SIGTERM');

    await expect(fetch(`${cli.url}/health`)).rejects.toThrow();
  });
});
