import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: the script is plain JavaScript without type declarations.
import { configReference, readmeTable } from '../scripts/config-reference.mjs';

describe('configuration reference', () => {
  it('README table matches the schema', async () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const generated: string = await configReference();
    // Run `npm run docs:config` to update the README after changing src/config/schema.ts.
    expect(readmeTable(readme)).toBe(generated);
  });

  it('lists every top-level option', async () => {
    const { configSchema } = await import('../src/config/schema.js');
    const generated: string = await configReference();
    for (const key of Object.keys(configSchema.shape)) {
      expect(generated).toContain(`| \`${key}\` |`);
    }
  });
});
