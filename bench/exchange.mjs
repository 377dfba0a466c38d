// Loads the token endpoint of the built CLI with autocannon from this process and prints
// throughput and latency. Usage: node bench/exchange.mjs [seconds] [connections] [server options]
// for example: node bench/exchange.mjs 10 50 --token-format jwt --signing-alg ES256
import autocannon from 'autocannon';
import { startCli } from './start-cli.mjs';

const duration = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 50);
const serverOptions = process.argv.slice(4);

const body = new URLSearchParams({
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  subject_token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTEyMyJ9.',
  subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
  audience: 'api://my-mcp-server',
  scope: 'mcp.tools.read mcp.tools.execute',
  client_id: 'litellm-client',
  client_secret: 'litellm-secret',
}).toString();

const { child, url } = await startCli(serverOptions);
try {
  const result = await autocannon({
    url: `${url}/oauth2/token`,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
    connections,
    duration,
  });
  const failures = result.non2xx + result.errors + result.timeouts;
  const label = serverOptions.length > 0 ? serverOptions.join(' ') : 'opaque tokens';
  console.log(`exchange with ${label}, ${connections} connections, ${duration} s`);
  console.log(`requests/s: mean ${result.requests.average.toFixed(0)}`);
  console.log(`latency ms: p50 ${result.latency.p50}, p99 ${result.latency.p99}`);
  console.log(`requests: ${result.requests.total}, non-2xx or errors: ${failures}`);
} finally {
  child.kill('SIGTERM');
}
