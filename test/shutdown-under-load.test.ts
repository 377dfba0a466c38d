import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, type ClientRequest, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchangeBody } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const REQUEST_TIMEOUT_S = 10;
const REQUEST_COUNT = 200;
/** Requests whose second half of the body is sent only after SIGTERM. */
const SLOW_COUNT = 50;

interface Outcome {
  status?: number;
  body?: string;
  error?: string;
}

interface PendingRequest {
  outgoing: ClientRequest;
  outcome: Promise<Outcome>;
}

let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'mtes-shutdown-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/**
 * Spawns the built CLI on a free port and resolves once its banner names the URL. `output`
 * returns everything the CLI has written to stdout so far.
 */
function startCli(
  configFile: string,
): Promise<{ child: ChildProcess; url: URL; output(): string }> {
  const child = spawn(
    process.execPath,
    [CLI, '--port', '0', '--config', configFile, '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk) => {
      output += chunk;
      const match = / listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) resolve({ child, url: new URL(match[1]), output: () => output });
    });
    child.on('exit', (code) => reject(new Error(`the server exited with status ${code}`)));
  });
}

/**
 * Starts a token request with `Expect: 100-continue` and resolves `started` once the server's
 * 100 Continue shows that it has parsed the headers and is reading the request.
 */
function startRequest(url: URL, agent: Agent, body: string) {
  let markStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const outgoing = request({
    host: url.hostname,
    port: url.port,
    method: 'POST',
    path: '/oauth2/token',
    agent,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': Buffer.byteLength(body),
      expect: '100-continue',
    },
  });
  outgoing.on('continue', markStarted);
  const outcome = new Promise<Outcome>((resolve) => {
    outgoing.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode, body: text }));
      response.on('error', (error) => resolve({ error: error.message }));
    });
    outgoing.on('error', (error) => resolve({ error: error.message }));
  });
  outgoing.flushHeaders();
  return { started, pending: { outgoing, outcome } satisfies PendingRequest };
}

/** Resolves with the error code of a new TCP connection, or `connected`. */
function tryConnect(url: URL): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('SIGTERM under load', () => {
  it('answers every started request', async () => {
    const configFile = join(directory, 'config.json');
    await writeFile(configFile, JSON.stringify({ requestTimeout: REQUEST_TIMEOUT_S }));
    const { child, url, output } = await startCli(configFile);
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    const agent = new Agent({ keepAlive: false, maxSockets: REQUEST_COUNT });

    try {
      const body = exchangeBody();
      const half = Math.floor(body.length / 2);
      const started = Array.from({ length: REQUEST_COUNT }, () => startRequest(url, agent, body));
      await Promise.all(started.map((entry) => entry.started));

      // Every request is now being read by the server. The fast ones send their whole body
      // and the slow ones only the first half, and SIGTERM follows at once.
      const slow = started.slice(0, SLOW_COUNT).map((entry) => entry.pending);
      const fast = started.slice(SLOW_COUNT).map((entry) => entry.pending);
      for (const { outgoing } of slow) outgoing.write(body.slice(0, half));
      for (const { outgoing } of fast) outgoing.end(body);
      const signalledAt = Date.now();
      child.kill('SIGTERM');

      // The CLI logs the shutdown just before it closes the listening socket, which Fastify
      // does after its preClose hooks, so a connection may still get through for a moment.
      while (!output().includes('shutting down')) await sleep(10);
      let connection = await tryConnect(url);
      for (let attempt = 0; connection === 'connected' && attempt < 100; attempt += 1) {
        await sleep(10);
        connection = await tryConnect(url);
      }
      expect(connection).toBe('ECONNREFUSED');

      await sleep(300);
      for (const { outgoing } of slow) outgoing.end(body.slice(half));

      const outcomes = await Promise.all([...slow, ...fast].map((entry) => entry.outcome));
      const failures = outcomes.filter((outcome) => outcome.status !== 200);
      expect(failures).toEqual([]);
      const tokens = outcomes.filter((outcome) => JSON.parse(outcome.body ?? '{}').access_token);
      expect(tokens).toHaveLength(REQUEST_COUNT);

      const [code, signal] = await exited;
      expect(signal).toBeNull();
      expect(code).toBe(0);
      expect(Date.now() - signalledAt).toBeLessThan(REQUEST_TIMEOUT_S * 1000);
      expect(stderr).toBe('');
    } finally {
      agent.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});
