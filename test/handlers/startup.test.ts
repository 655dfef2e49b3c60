import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUN, runToEnd } from '../helpers/processes.ts';

const dir = mkdtempSync(join(tmpdir(), 'vbs-bad-manifest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('starting with a bad manifest', () => {
  it('stops the gateway with a message naming the file and the problem', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ "handlers": [ { "module": "./x.ts" }, ] }');
    const result = await runToEnd(BUN, ['gateway/entry/bun.ts'], {
      env: { PORT: '0', HANDLER_MANIFESTS: file, DATABASE_URL: '', DATA_DIR: join(dir, 'data') },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`HANDLER_MANIFESTS: Handler manifest ${file}: is not valid JSON`);
  });

  it('stops the gateway when a manifest module does not load', async () => {
    const file = join(dir, 'missing-module.json');
    writeFileSync(file, JSON.stringify({ handlers: [{ module: './nowhere/index.ts' }] }));
    const result = await runToEnd(BUN, ['gateway/entry/bun.ts'], {
      env: { PORT: '0', HANDLER_MANIFESTS: file, DATABASE_URL: '', DATA_DIR: join(dir, 'data') },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`Handler manifest ${file}: handlers[0] (./nowhere/index.ts): the module does not load`);
  });

  it('stops a fleet worker with the same message, before it touches the engine or the database', async () => {
    const file = join(dir, 'duplicate.json');
    writeFileSync(
      join(dir, 'webhook-again.ts'),
      `import { defineHandler, z } from ${JSON.stringify(join(process.cwd(), 'handlers/sdk/index.ts'))};
export default defineHandler({ name: 'webhook', description: 'A second webhook.', options: z.object({}), handle: async () => {} });`,
    );
    writeFileSync(file, JSON.stringify({ handlers: [{ module: './webhook-again.ts' }] }));
    const result = await runToEnd(BUN, ['fleet/entry/worker.ts'], {
      env: { HANDLER_MANIFESTS: file, ENGINE_URL: 'http://127.0.0.1:9', DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none' },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `HANDLER_MANIFESTS: Handler manifest ${file}: handlers[0] (./webhook-again.ts): a handler named "webhook" is already installed`,
    );
  });
});
