// Splits the cost of a token exchange between Node.js, Fastify and the mock server. It loads
// the bare node:http server, a Fastify server that sends a fixed body for the token request
// (bench/fastify-floor.mjs, plain and with the mock server's settings), and the CLI. It reports
// the server process's CPU time per request, which shared cores disturb less than the request
// rate. Usage: node bench/floor.mjs [--duration seconds] [--runs n], or
// npm run bench -- --floor
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import {
  cpuMicroseconds,
  EXCHANGE_BODY,
  median,
  pinLoadGenerator,
  startBareServer,
  startCli,
  startListener,
  stop,
} from './start-cli.mjs';

const { values: options } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    floor: { type: 'boolean', default: false },
  },
});
const placement = pinLoadGenerator();
const floorServer = fileURLToPath(new URL('./fastify-floor.mjs', import.meta.url));

const request = {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: EXCHANGE_BODY,
  connections: 50,
};

const servers = [
  { name: 'bare `node:http`', start: () => startBareServer(220) },
  { name: 'Fastify, fixed token response', start: () => startListener([floorServer]) },
  {
    name: 'Fastify with the mock server settings and hooks, fixed response',
    start: () => startListener([floorServer, '--like-server']),
  },
  { name: 'mock server, opaque token exchange', start: () => startCli() },
];

console.log(`${request.connections} connections, ${options.duration} s a run; ${placement}\n`);
console.log('| Server | Requests/s | CPU per request | Runs |');
console.log('| --- | --- | --- | --- |');
for (const server of servers) {
  const { child, url } = await server.start();
  try {
    const target = { ...request, url: `${url}/oauth2/token` };
    await autocannon({ ...target, duration: 1 });
    const rates = [];
    const costs = [];
    for (let run = 0; run < Number(options.runs); run += 1) {
      const before = cpuMicroseconds(child.pid);
      const result = await autocannon({ ...target, duration: Number(options.duration) });
      if (result.non2xx + result.errors > 0) throw new Error(`${server.name} failed requests`);
      costs.push((cpuMicroseconds(child.pid) - before) / result.requests.total);
      rates.push(result.requests.average);
    }
    const cells = [
      server.name,
      Math.round(median(rates)).toLocaleString('en-US'),
      `${median(costs).toFixed(1)} µs`,
      String(costs.length),
    ];
    console.log(`| ${cells.join(' | ')} |`);
  } finally {
    await stop(child);
  }
}
