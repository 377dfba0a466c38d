// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time.
// Usage: node bench/profile-summary.mjs FILE.cpuprofile [count]
import { readFileSync } from 'node:fs';

const [file, countArgument] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/profile-summary.mjs FILE.cpuprofile [count]');
const count = Number(countArgument ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8'));

// Each sample names the node that was on top of the stack; timeDeltas are microseconds.
const selfMicroseconds = new Map();
profile.samples.forEach((nodeId, index) => {
  selfMicroseconds.set(nodeId, (selfMicroseconds.get(nodeId) ?? 0) + profile.timeDeltas[index]);
});

const byFunction = new Map();
let total = 0;
for (const node of profile.nodes) {
  const time = selfMicroseconds.get(node.id) ?? 0;
  total += time;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url
    ? `${url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${lineNumber + 1}`
    : '';
  const key = `${functionName || '(anonymous)'} ${where}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + time);
}

const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, count);
console.log(`total sampled time ${(total / 1e6).toFixed(1)} s`);
for (const [key, time] of rows) {
  console.log(`${((100 * time) / total).toFixed(1).padStart(5)} %  ${key}`);
}
