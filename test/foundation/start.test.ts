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

  it('npm start names every bad variable of its gateway, worker and simulator in one message', async () => {
    const result = await runToEnd(BUN, ['scripts/start.ts'], {
      env: {
        PORT: 'abc',
        LEASE_TTL_MS: '-5',
        SIM_ARGS: '--slots many',
        DATA_DIR: dataDir,
        DATABASE_URL: '',
        ENGINE_URL: '',
        ENGINE_CMD: '',
        ENGINE: '',
      },
    });
    expect(result.code).toBe(2);
    const message = result.stderr;
    expect(message).toContain('PORT: expected a port number');
    expect(message).toContain('LEASE_TTL_MS: expected a positive integer');
    expect(message).toMatch(/SIM_ARGS: .*slots/);
    expect(message.match(/Invalid configuration/g)).toHaveLength(1);
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
    const startEmbedded = async () => {
      const gateway = start(BUN, ['gateway/entry/bun.ts'], { env: { PORT: '0', DATA_DIR: dataDir, DATABASE_URL: '' } });
      const [, url] = (await gateway.waitFor(/"url":"(http:[^"]+)"/, 30_000)) as unknown as [string, string];
      return { gateway, url };
    };
    const first = await startEmbedded();
    let fileId: string;
    try {
      expect(first.gateway.output()).toContain('"database":"pglite"');
      expect(await (await fetch(`${first.url}/health`)).json()).toEqual({ status: 'ok' });
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob(['{"custom_id":"a"}\n']), 'kept.jsonl');
      fileId = ((await (await fetch(`${first.url}/v1/files`, { method: 'POST', body: form })).json()) as { id: string }).id;
    } finally {
      await first.gateway.stop();
    }
    const second = await startEmbedded();
    try {
      const kept = await fetch(`${second.url}/v1/files/${fileId}`);
      expect(await kept.json()).toMatchObject({ id: fileId, filename: 'kept.jsonl' });
    } finally {
      await second.gateway.stop();
    }
  });
});
