// Benchmark harness behind `npm run bench`: loads a bare node:http server and the built CLI side
// by side with autocannon from this process, measures startup, and prints Markdown tables.
// Usage: node bench/run.mjs [--duration seconds] [--connections n] [--runs n] [--only text]
//        [--memory | --floor]
// `--only` keeps the scenarios whose name contains the text; `--memory` runs bench/memory.mjs
// and `--floor` bench/floor.mjs instead. On Linux with two or more CPUs the servers run on
// CPU 0 and autocannon on CPU 1.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import {
  EXCHANGE_BODY,
  median,
  pinLoadGenerator,
  residentMiB,
  startBareServer,
  startCli,
  stop,
} from './start-cli.mjs';

const { values: options } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    runs: { type: 'string', default: '10' },
    memory: { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});

const placement = pinLoadGenerator();
if (options.memory) {
  await import('./memory.mjs');
  process.exit(0);
}
if (options.floor) {
  await import('./floor.mjs');
  process.exit(0);
}

const duration = Number(options.duration);
const connections = Number(options.connections);
const runs = Number(options.runs);
const WARMUP_SECONDS = 1;

const exchangeRequest = {
  path: '/oauth2/token',
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: EXCHANGE_BODY,
};
const healthRequest = { path: '/health', method: 'GET' };

const scenarios = [
  { name: 'opaque token exchange', args: [], request: exchangeRequest },
  {
    name: 'JWT exchange, RS256',
    args: ['--token-format', 'jwt', '--signing-alg', 'RS256'],
    request: exchangeRequest,
  },
  {
    name: 'JWT exchange, ES256',
    args: ['--token-format', 'jwt', '--signing-alg', 'ES256'],
    request: exchangeRequest,
  },
  {
    name: 'JWT exchange, EdDSA',
    args: ['--token-format', 'jwt', '--signing-alg', 'EdDSA'],
    request: exchangeRequest,
  },
  { name: '`GET /health`', args: [], request: healthRequest },
].filter((scenario) => options.only === undefined || scenario.name.includes(options.only));

/** Runs autocannon against `url` for `seconds` and returns the result. */
function load(url, request, seconds) {
  const { path, ...rest } = request;
  return autocannon({ url: `${url}${path}`, ...rest, connections, duration: seconds });
}

/** Warms a server up, then loads it and reads its resident set size at the end. */
async function measure(child, url, request) {
  await load(url, request, WARMUP_SECONDS);
  const result = await load(url, request, duration);
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.errors + result.timeouts + result.non2xx,
    total: result.requests.total,
    rssMiB: residentMiB(child.pid),
  };
}

/** Sends one opaque exchange to the CLI to learn the length of a token response body. */
async function tokenResponseLength() {
  const { child, url } = await startCli();
  try {
    const response = await fetch(`${url}/oauth2/token`, {
      method: 'POST',
      headers: exchangeRequest.headers,
      body: EXCHANGE_BODY,
    });
    if (response.status !== 200) throw new Error(`the exchange returned ${response.status}`);
    return (await response.text()).length;
  } finally {
    await stop(child);
  }
}

async function measureBare(bodyLength, request) {
  const { child, url } = await startBareServer(bodyLength);
  try {
    return await measure(child, url, request);
  } finally {
    await stop(child);
  }
}

async function measureCli(args, request) {
  const { child, url } = await startCli(args);
  try {
    return await measure(child, url, request);
  } finally {
    await stop(child);
  }
}

async function cliStartupTimes() {
  const times = [];
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    const { child, url } = await startCli();
    const response = await fetch(`${url}/health`);
    times.push(performance.now() - started);
    await stop(child);
    if (response.status !== 200) throw new Error(`/health returned ${response.status}`);
  }
  return times;
}

async function inProcessStartupTimes() {
  const { createServer } = await import('../dist/index.js');
  const times = [];
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    const server = createServer({ logLevel: 'error' });
    await server.listen({ port: 0, host: '127.0.0.1' });
    times.push(performance.now() - started);
    await server.close();
  }
  return times;
}

const number = (value) => Math.round(value).toLocaleString('en-US');
const ratio = (value, base) => `${Math.round((100 * value) / base)} %`;

const bodyLength = await tokenResponseLength();
const bareExchange = await measureBare(bodyLength, exchangeRequest);
const bareHealth = await measureBare(bodyLength, healthRequest);
const rows = [
  { name: 'bare `node:http`, POST', result: bareExchange, base: bareExchange },
  { name: 'bare `node:http`, GET', result: bareHealth, base: bareHealth },
];
for (const scenario of scenarios) {
  const base = scenario.request === healthRequest ? bareHealth : bareExchange;
  rows.push({
    name: scenario.name,
    result: await measureCli(scenario.args, scenario.request),
    base,
  });
}

const cliTimes = await cliStartupTimes();
const inProcessTimes = await inProcessStartupTimes();

console.log(
  `${connections} connections, ${duration} s per scenario after ${WARMUP_SECONDS} s of warm-up; ` +
    `bare server body ${bodyLength} bytes; ${placement}\n`,
);
console.log('| Scenario | Requests/s | Of bare | p50 | p99 | Errors or non-2xx | RSS at end |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const { name, result, base } of rows) {
  const cells = [
    name,
    number(result.requestsPerSecond),
    ratio(result.requestsPerSecond, base.requestsPerSecond),
    `${result.p50} ms`,
    `${result.p99} ms`,
    number(result.failures),
    `${result.rssMiB.toFixed(0)} MiB`,
  ];
  console.log(`| ${cells.join(' | ')} |`);
}
console.log('\n| Startup | Median | Min | Max | Runs |');
console.log('| --- | --- | --- | --- | --- |');
for (const [name, times] of [
  ['CLI spawn to first `/health` 200', cliTimes],
  ['`createServer()` + `listen()` in process', inProcessTimes],
]) {
  const cells = [
    name,
    `${median(times).toFixed(1)} ms`,
    `${Math.min(...times).toFixed(1)} ms`,
    `${Math.max(...times).toFixed(1)} ms`,
    String(times.length),
  ];
  console.log(`| ${cells.join(' | ')} |`);
}
