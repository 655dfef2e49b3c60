import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, runToEnd, start } from '../helpers/processes.ts';

describe('starting the gateway under Bun', () => {
  const test = useTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'vbs-start-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('exits non-zero naming PORT when PORT is not a number', async () => {
    const result = await runToEnd(BUN, ['gateway/entry/bun.ts'], { env: { PORT: 'abc' } });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('PORT: expected a port number');
  });

  it('serves /health on real Postgres', async () => {
    const gateway = start(BUN, ['gateway/entry/bun.ts'], { env: { PORT: '0', DATABASE_URL: test().url, LOG_LEVEL: 'info' } });
    try {
      const [, url] = (await gateway.waitFor(/"url":"(http:[^"]+)"/)) as unknown as [string, string];
      const res = await fetch(`${url}/health`);
      expect(await res.json()).toEqual({ status: 'ok' });
    } finally {
      expect(await gateway.stop()).toBe(0);
    }
  });

  it('serves /health on the embedded database, which persists under DATA_DIR', async () => {
    const gateway = start(BUN, ['gateway/entry/bun.ts'], { env: { PORT: '0', DATA_DIR: dataDir, DATABASE_URL: '' } });
    try {
      const [, url] = (await gateway.waitFor(/"url":"(http:[^"]+)"/, 30_000)) as unknown as [string, string];
      expect(gateway.output()).toContain('"database":"pglite"');
      const res = await fetch(`${url}/health`);
      expect(await res.json()).toEqual({ status: 'ok' });
    } finally {
      await gateway.stop();
    }
  });
});
