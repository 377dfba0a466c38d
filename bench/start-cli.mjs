import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const bareServer = fileURLToPath(new URL('./bare-server.mjs', import.meta.url));

/**
 * Whether `taskset` can pin processes to CPUs here: it needs Linux, the util-linux command and
 * at least two CPUs, one for the server and one for the load generator.
 */
function canPin() {
  if (process.platform !== 'linux' || availableParallelism() < 2) return false;
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * CPU the servers under test run on, or undefined when processes cannot be pinned. The load
 * generator takes the next CPU, so the two never compete for one core.
 */
export const SERVER_CPU = canPin() ? 0 : undefined;

/**
 * Moves every thread of this process (autocannon runs in it) to the CPU next to the servers'.
 * @returns {string} what the figures were measured on, for the printed report
 */
export function pinLoadGenerator() {
  if (SERVER_CPU === undefined) return 'servers and load generator unpinned';
  execFileSync('taskset', ['-a', '-p', '-c', String(SERVER_CPU + 1), String(process.pid)], {
    stdio: 'ignore',
  });
  return `servers pinned to CPU ${SERVER_CPU}, load generator to CPU ${SERVER_CPU + 1}`;
}

/**
 * Spawns a Node.js script, on the servers' CPU when pinning works, and resolves once its output
 * names the URL it listens on.
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, url: string }>}
 */
export function startListener(args) {
  return new Promise((resolve, reject) => {
    const [command, commandArgs] =
      SERVER_CPU === undefined
        ? [process.execPath, args]
        : ['taskset', ['-c', String(SERVER_CPU), process.execPath, ...args]];
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = / listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve({ child, url: match[1] });
    });
    child.on('exit', (code) => reject(new Error(`the server exited with status ${code}`)));
  });
}

/** Spawns the built CLI on a free loopback port with `--log-level warn` and the given options. */
export function startCli(args = [], nodeOptions = []) {
  return startListener([...nodeOptions, cli, '--port', '0', '--log-level', 'warn', ...args]);
}

/** Spawns the bare node:http baseline that sends a JSON body of `bodyLength` bytes. */
export function startBareServer(bodyLength) {
  return startListener([bareServer, String(bodyLength)]);
}

/** Stops a child process with SIGTERM and waits for it to exit. */
export async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** CPU time a running process has used, user and system, in microseconds (Linux only). */
export function cpuMicroseconds(pid) {
  // Fields 14 and 15 of /proc/<pid>/stat, counted after the parenthesised command name.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/** Linux reports process CPU times in clock ticks, 100 a second on every common platform. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Resident set size of a running process in MiB, read from /proc (Linux only). */
export function residentMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`VmRSS is missing from /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

/** Form body of the README's token exchange request. */
export const EXCHANGE_BODY = new URLSearchParams({
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  subject_token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTEyMyJ9.',
  subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
  audience: 'api://my-mcp-server',
  scope: 'mcp.tools.read mcp.tools.execute',
  client_id: 'litellm-client',
  client_secret: 'litellm-secret',
}).toString();

/** Median of a list of numbers. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
