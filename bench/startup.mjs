// Measures the time from spawning the built CLI to its first 200 on /health, over 10 runs.
import { performance } from 'node:perf_hooks';
import { startCli } from './start-cli.mjs';

const RUNS = 10;
const times = [];
for (let run = 0; run < RUNS; run += 1) {
  const started = performance.now();
  const { child, url } = await startCli();
  const response = await fetch(`${url}/health`);
  if (response.status !== 200) throw new Error(`/health answered ${response.status}`);
  times.push(performance.now() - started);
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}
times.sort((a, b) => a - b);
const median = (times[RUNS / 2 - 1] + times[RUNS / 2]) / 2;
console.log(`CLI start to first /health 200: median ${median.toFixed(0)} ms over ${RUNS} runs`);
console.log(`min ${times[0].toFixed(0)} ms, max ${times[RUNS - 1].toFixed(0)} ms`);
