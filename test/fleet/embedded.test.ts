import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from '../helpers/fixtures.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { BUN, start } from '../helpers/processes.ts';

async function submit(url: string, file: string, endpoint: string): Promise<string> {
  const form = new FormData();
  form.set('purpose', 'batch');
  form.set('file', new Blob([readFileSync(join(FIXTURES, file))]), file);
  const uploaded = (await (await fetch(`${url}/v1/files`, { method: 'POST', body: form })).json()) as { id: string };
  const res = await fetch(`${url}/v1/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input_file_id: uploaded.id, endpoint, completion_window: '24h' }),
  });
  return ((await res.json()) as { id: string }).id;
}

async function finished(url: string, id: string) {
  for (let i = 0; i < 300; i++) {
    const batch = (await (await fetch(`${url}/v1/batches/${id}`)).json()) as {
      status: string;
      output_file_id: string | null;
      request_counts: { completed: number; failed: number };
    };
    if (['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) return batch;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`batch ${id} did not finish`);
}

describe('npm start (embedded mode)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vbs-embedded-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('runs gateway, worker and simulator in one process, says the engine is simulated, and answers a batch', async () => {
    const app = start(BUN, ['scripts/start.ts'], {
      env: {
        PORT: '0',
        DATA_DIR: dataDir,
        DATABASE_URL: '',
        REDIS_URL: '',
        ENGINE_URL: '',
        ENGINE_CMD: '',
        ENGINE: '',
        SIM_ARGS: '--ttft-ms 5 --tpot-ms 1 --output-tokens 16',
        BUN_CONFIG_MAX_HTTP_REQUESTS: '8192',
      },
    });
    try {
      const [, url] = (await app.waitFor(/"msg":"gateway listening"[^\n]*"url":"(http:[^"]+)"/, 60_000)) as unknown as [string, string];
      expect(app.output()).toContain('THE ENGINE IS SIMULATED');
      expect(app.output()).toContain('"engine":"simulated"');
      const chat = await submit(url, 'chat-100.jsonl', '/v1/chat/completions');
      const embeddings = await submit(url, 'embeddings-50.jsonl', '/v1/embeddings');
      for (const [id, count] of [
        [chat, 100],
        [embeddings, 50],
      ] as const) {
        const batch = await finished(url, id);
        expect(batch).toMatchObject({ status: 'completed', request_counts: { completed: count, failed: 0 } });
        const lines = (await (await fetch(`${url}/v1/files/${batch.output_file_id}/content`)).text())
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { custom_id: string; response: { body: { object: string } } });
        expect(new Set(lines.map((l) => l.custom_id)).size).toBe(count);
        expect(lines[0]?.response.body.object).toBe(id === chat ? 'chat.completion' : 'list');
      }
      // /v1/models lists both models the embedded engine serves, with vLLM's card fields, and each can be retrieved.
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string; max_model_len?: number }[] };
      expect(models.data.map((m) => [m.id, m.max_model_len])).toEqual([
        ['sim-embed', 8192],
        ['sim-model', 8192],
      ]);
      expect((await fetch(`${url}/v1/models/sim-embed`)).status).toBe(200);
    } finally {
      expect(await app.stop()).toBe(0);
    }
  });
});
