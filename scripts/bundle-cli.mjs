// Bundles the command-line entry point and its dependencies into the single file dist/cli.js,
// replacing the module tsc emits there. Node.js then reads one file at startup instead of
// resolving and loading about 400 modules. On one core of the machine BENCHMARKS.md describes,
// this cut the time from start to the first response from about 350 ms to 210 ms.
// The library entry (dist/index.js) stays unbundled. Usage: node scripts/bundle-cli.mjs
import { build } from 'esbuild';

// Dependencies written as CommonJS call require() and read __dirname; an ES module bundle has
// neither, so the banner defines them from the bundle's own URL.
const banner = [
  "import { createRequire as __bundleRequire } from 'node:module';",
  "import { dirname as __bundleDirname } from 'node:path';",
  "import { fileURLToPath as __bundleFilePath } from 'node:url';",
  'const require = __bundleRequire(import.meta.url);',
  'const __filename = __bundleFilePath(import.meta.url);',
  'const __dirname = __bundleDirname(__filename);',
].join('\n');

await build({
  entryPoints: [new URL('../src/cli.ts', import.meta.url).pathname],
  outfile: new URL('../dist/cli.js', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  banner: { js: banner },
  logLevel: 'warning',
});
