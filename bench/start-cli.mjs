import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/**
 * Spawns the built CLI on a free loopback port and resolves once its banner names the URL.
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, url: string }>}
 */
export function startCli(args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, '--port', '0', '--log-level', 'warn', ...args], {
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
