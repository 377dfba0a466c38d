// Profiles the built CLI under load: runs it with `node --cpu-prof`, sends opaque token
// exchanges with autocannon, stops it and prints the top self-time functions.
// Usage: node bench/profile.mjs [output directory] [seconds] [-- server options]
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { EXCHANGE_BODY, pinLoadGenerator, startCli, stop } from './start-cli.mjs';

const separator = process.argv.indexOf('--');
const positionals = process.argv.slice(2, separator === -1 ? undefined : separator);
const serverOptions = separator === -1 ? [] : process.argv.slice(separator + 1);
const directory = positionals[0] ?? mkdtempSync(join(tmpdir(), 'mtes-profile-'));
const seconds = Number(positionals[1] ?? 8);

pinLoadGenerator();
const { child, url } = await startCli(serverOptions, ['--cpu-prof', '--cpu-prof-dir', directory]);
const result = await autocannon({
  url: `${url}/oauth2/token`,
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: EXCHANGE_BODY,
  connections: 50,
  duration: seconds,
});
await stop(child);
console.log(
  `${Math.round(result.requests.average)} requests/s, p99 ${result.latency.p99} ms, ` +
    `${result.non2xx + result.errors} errors or non-2xx`,
);
const profile = readdirSync(directory).find((name) => name.endsWith('.cpuprofile'));
if (!profile) throw new Error(`no .cpuprofile was written to ${directory}`);
process.argv = [process.argv[0], 'profile-summary', join(directory, profile), '40'];
await import('./profile-summary.mjs');
