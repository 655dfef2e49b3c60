import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUN, runToEnd } from '../helpers/processes.ts';

const tree = mkdtempSync(join(tmpdir(), 'vbs-boundaries-'));
afterAll(() => rmSync(tree, { recursive: true, force: true }));

function write(path: string, text: string) {
  mkdirSync(dirname(join(tree, path)), { recursive: true });
  writeFileSync(join(tree, path), text);
}

describe('the module boundary lint', () => {
  it('passes on this repository', async () => {
    const result = await runToEnd(BUN, ['scripts/check-boundaries.ts']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('names each file that crosses a boundary', async () => {
    write('gateway/a.ts', "import { x } from '../fleet/worker.ts';\n");
    write('fleet/worker.ts', 'export const x = 1;\nBun.serve({});\n');
    write('fleet/entry/bun.ts', 'Bun.serve({});\n');
    write('handlers/webhook/index.ts', "import { y } from '../../gateway/a.ts';\nimport { defineHandler } from '../sdk/index.ts';\n");
    write('schema/db.ts', "import { createLogger } from '../core/logger.ts';\n");
    write('core/config.ts', 'export const port = process.env.PORT;\n');
    write('core/other.ts', 'export const port = process.env.PORT;\n');
    const result = await runToEnd(BUN, ['scripts/check-boundaries.ts', tree]);
    expect(result.code).toBe(1);
    const lines = result.stderr
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.trim())
      .sort();
    expect(lines).toEqual([
      'core/other.ts: reads the environment; only a config.ts may',
      'fleet/worker.ts: uses a Bun.* API; keep them in entry files (*/entry/*, scripts/, *.bun.ts) so the logic runs on Node',
      'gateway/a.ts: imports ../fleet/worker.ts; gateway/ may not import fleet/',
      'handlers/webhook/index.ts: imports ../../gateway/a.ts; a handler imports only the handler SDK (handlers/sdk)',
      'schema/db.ts: imports ../core/logger.ts; schema/ may not import core/',
    ]);
  });

  it('refuses a cli file that imports server code', async () => {
    const tree = mkdtempSync(join(tmpdir(), 'vbs-cli-lint-'));
    try {
      mkdirSync(join(tree, 'cli'));
      mkdirSync(join(tree, 'core'));
      writeFileSync(join(tree, 'core/errors.ts'), 'export const x = 1;\n');
      writeFileSync(join(tree, 'cli/main.ts'), "import { x } from '../core/errors.ts';\n");
      const result = await runToEnd(BUN, ['scripts/check-boundaries.ts', tree]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('cli/main.ts: imports ../core/errors.ts; cli/ may not import core/');
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });
});
