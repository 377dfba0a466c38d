// Loads the opaque token exchange of the built CLI at full rate for a number of minutes and
// prints, every 30 s, the requests so far, the failures and the server's resident set size.
// Usage: node bench/soak.mjs --minutes 10 [--connections 50]
// Linux only: the resident set size is read from /proc/<pid>/status (VmRSS).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const REPORT_INTERVAL_MS = 30_000;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
  },
});
const minutes = Number(values.minutes);
const connections = Number(values.connections);
if (!(minutes > 0) || !Number.isInteger(connections) || connections < 1) {
  console.error(
    'usage: node bench/soak.mjs --minutes <minutes, above 0> [--connections <count, at least 1>]',
  );
  process.exit(2);
}

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

const body = new URLSearchParams({
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  subject_token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTEyMyJ9.',
  subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
  audience: 'api://my-mcp-server',
  scope: 'mcp.tools.read mcp.tools.execute',
  client_id: 'litellm-client',
  client_secret: 'litellm-secret',
}).toString();

/** Spawns the built CLI on a free loopback port and resolves once its banner names the URL. */
function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, '--port', '0', '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = / listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve({ child, url: match[1] });
    });
    child.on('exit', (code) => reject(new Error(`the server exited with status ${code}`)));
  });
}

/** Returns the resident set size of `pid` in MiB, read from /proc/<pid>/status. */
function readRssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`VmRSS not found in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

const { child, url } = await startServer();
const startedAt = Date.now();
const counts = { requests: 0, non2xx: 0, errors: 0 };
const rssSamples = [readRssMiB(child.pid)];

const printProgress = () => {
  const rss = readRssMiB(child.pid);
  rssSamples.push(rss);
  const elapsed = ((Date.now() - startedAt) / 1000).toFixed(0);
  console.log(
    `${elapsed} s: requests ${counts.requests}, non-2xx ${counts.non2xx}, ` +
      `errors ${counts.errors}, server RSS ${rss.toFixed(1)} MiB`,
  );
};

console.log(`soak: ${minutes} min, ${connections} connections, ${url}/oauth2/token (opaque)`);
console.log(`0 s: server RSS ${rssSamples[0].toFixed(1)} MiB`);
const timer = setInterval(printProgress, REPORT_INTERVAL_MS);

try {
  const instance = autocannon({
    url: `${url}/oauth2/token`,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
    connections,
    duration: minutes * 60,
  });
  instance.on('response', (_client, statusCode) => {
    counts.requests += 1;
    if (statusCode < 200 || statusCode > 299) counts.non2xx += 1;
  });
  instance.on('reqError', () => {
    counts.errors += 1;
  });
  const result = await instance;
  clearInterval(timer);
  printProgress();

  const rssMin = Math.min(...rssSamples);
  const rssMax = Math.max(...rssSamples);
  const rssFirst = rssSamples[0];
  const rssLast = rssSamples[rssSamples.length - 1];
  console.log('summary:');
  console.log(`  requests: ${counts.requests} (${result.requests.average.toFixed(0)}/s mean)`);
  console.log(
    `  non-2xx: ${counts.non2xx}, errors: ${counts.errors}, timeouts: ${result.timeouts}`,
  );
  console.log(`  latency ms: p50 ${result.latency.p50}, p99 ${result.latency.p99}`);
  console.log(
    `  server RSS MiB: first ${rssFirst.toFixed(1)}, last ${rssLast.toFixed(1)}, ` +
      `min ${rssMin.toFixed(1)}, max ${rssMax.toFixed(1)}`,
  );
  process.exitCode = counts.non2xx + counts.errors + result.timeouts === 0 ? 0 : 1;
} finally {
  clearInterval(timer);
  child.removeAllListeners('exit');
  child.kill('SIGTERM');
}
