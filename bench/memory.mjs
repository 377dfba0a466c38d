// Memory check: sends opaque token exchanges to the built CLI with a full request log and
// compares its resident set size after the first 100,000 requests with that after 1,000,000.
// Usage: node bench/memory.mjs [--connections n] [--first n] [--total n] [-- server options]
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { EXCHANGE_BODY, residentMiB, startCli, stop } from './start-cli.mjs';

const { values: options, positionals: serverOptions } = parseArgs({
  options: {
    connections: { type: 'string', default: '50' },
    first: { type: 'string', default: '100000' },
    total: { type: 'string', default: '1000000' },
    memory: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const connections = Number(options.connections);
const first = Number(options.first);
const total = Number(options.total);
const TARGET = 0.2;

/** Sends `amount` exchanges and returns the count of errors and non-2xx responses. */
async function send(url, amount) {
  const result = await autocannon({
    url: `${url}/oauth2/token`,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: EXCHANGE_BODY,
    connections,
    amount,
  });
  return result.errors + result.timeouts + result.non2xx;
}

const { child, url } = await startCli(serverOptions);
try {
  const started = Date.now();
  let failures = await send(url, first);
  const rssFirst = residentMiB(child.pid);
  failures += await send(url, total - first);
  const rssTotal = residentMiB(child.pid);
  const growth = rssTotal / rssFirst - 1;
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  // The target bounds growth; a smaller RSS after more requests means memory was released.
  const verdict = growth <= TARGET ? 'within' : 'outside';
  console.log(`Opaque exchanges, ${connections} connections, ${seconds} s in total\n`);
  console.log('| Requests | RSS | Errors or non-2xx |');
  console.log('| --- | --- | --- |');
  console.log(`| ${first.toLocaleString('en-US')} | ${rssFirst.toFixed(1)} MiB | |`);
  console.log(
    `| ${total.toLocaleString('en-US')} | ${rssTotal.toFixed(1)} MiB | ${failures.toLocaleString('en-US')} |`,
  );
  console.log(
    `\nRSS change from ${first.toLocaleString('en-US')} to ${total.toLocaleString('en-US')} ` +
      `requests: ${(growth * 100).toFixed(1)} % (${verdict} the ${TARGET * 100} % target)`,
  );
} finally {
  await stop(child);
}
