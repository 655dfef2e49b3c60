import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start, type Running } from '../helpers/processes.ts';
import { fixture } from './harness.ts';

const URL_LINE = /"msg":"(?:gateway|simulated vLLM engine) listening[^\n]*?"url":"(http:[^"]+)"/;

interface InputLine {
  custom_id: string;
  body: { model: string; max_tokens?: number };
}

const linesOf = (bytes: Buffer) =>
  bytes
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as InputLine);

/** The official SDK through separate Bun processes: a gateway, a worker and the simulator, on real Postgres. */
describe('the OpenAI SDK end to end through the worker and the simulator', () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  let client: OpenAI;

  beforeAll(async () => {
    const shared = { DATABASE_URL: test().url, LOG_LEVEL: 'info' };
    const sim = start(BUN, [
      'fleet/entry/sim.ts',
      '--port',
      '0',
      '--model',
      'sim-model,sim-embed',
      '--slots',
      '64',
      '--ttft-ms',
      '2',
      '--tpot-ms',
      '1',
    ]);
    processes.push(sim);
    const [, engineUrl] = (await sim.waitFor(URL_LINE)) as unknown as [string, string];
    const gateway = start(BUN, ['gateway/entry/bun.ts'], { env: { ...shared, PORT: '0', API_KEYS: 'sdk-key' } });
    processes.push(gateway);
    const [, gatewayUrl] = (await gateway.waitFor(URL_LINE, 30_000)) as unknown as [string, string];
    const worker = start(BUN, ['fleet/entry/worker.ts'], {
      env: { ...shared, ENGINE_URL: engineUrl, BUN_CONFIG_MAX_HTTP_REQUESTS: '8192' },
    });
    processes.push(worker);
    await worker.waitFor(/"msg":"worker ready"/, 30_000);
    client = new OpenAI({ apiKey: 'sdk-key', baseURL: `${gatewayUrl}/v1`, maxRetries: 0 });
  });

  afterAll(async () => {
    await Promise.all(processes.reverse().map((p) => p.stop()));
  });

  async function runBatch(name: string, endpoint: '/v1/chat/completions' | '/v1/embeddings') {
    const bytes = fixture(name);
    const file = await client.files.create({ file: await toFile(bytes, name), purpose: 'batch' });
    let batch = await client.batches.create({ input_file_id: file.id, endpoint, completion_window: '24h' });
    const deadline = Date.now() + 60_000;
    while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      batch = await client.batches.retrieve(batch.id);
    }
    return { batch, input: linesOf(bytes) };
  }

  async function download(fileId: string | null | undefined) {
    if (!fileId) return [];
    const content = await client.files.content(fileId);
    return (await content.text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
  }

  it('completes a chat batch with every custom_id once, in input order, as non-streaming chat completions', async () => {
    const { batch, input } = await runBatch('chat-100.jsonl', '/v1/chat/completions');
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 100, completed: 100, failed: 0 });
    for (const stamp of ['created_at', 'in_progress_at', 'finalizing_at', 'completed_at'] as const) {
      expect(batch[stamp]).toEqual(expect.any(Number));
    }
    const output = await download(batch.output_file_id);
    expect(batch.error_file_id).toBeNull();
    expect(output.map((l) => l.custom_id)).toEqual(input.map((l) => l.custom_id));
    for (const [i, line] of output.entries()) {
      expect(line).toMatchObject({
        id: expect.stringMatching(/^batch_req_/),
        error: null,
        response: { status_code: 200, request_id: expect.any(String) },
      });
      const body = line.response.body;
      expect(body.object).toBe('chat.completion');
      expect(body.model).toBe(input[i]?.body.model);
      expect(body.choices[0].message.role).toBe('assistant');
      expect(body.usage.completion_tokens).toBeGreaterThan(0);
      const cap = input[i]?.body.max_tokens;
      if (cap !== undefined) expect(body.usage.completion_tokens).toBeLessThanOrEqual(cap);
    }
  });

  it('completes an embeddings batch with a vector per input', async () => {
    const { batch, input } = await runBatch('embeddings-50.jsonl', '/v1/embeddings');
    expect(batch.status).toBe('completed');
    const output = await download(batch.output_file_id);
    expect(output.map((l) => l.custom_id)).toEqual(input.map((l) => l.custom_id));
    for (const line of output) {
      expect(line.response.body.object).toBe('list');
      expect(line.response.body.data[0].embedding.length).toBeGreaterThan(0);
    }
  });

  it('cancels a running batch, keeping what finished and listing the rest as cancelled', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) =>
      JSON.stringify({
        custom_id: `long-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'sim-model', max_tokens: 200, messages: [{ role: 'user', content: `write at length about ${i}` }] },
      }),
    );
    const file = await client.files.create({ file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'long.jsonl'), purpose: 'batch' });
    let batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const deadline = Date.now() + 30_000;
    while ((batch.status !== 'in_progress' || !batch.request_counts?.completed) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      batch = await client.batches.retrieve(batch.id);
    }
    expect(batch.status).toBe('in_progress');
    const cancelling = await client.batches.cancel(batch.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    while (batch.status !== 'cancelled' && Date.now() < deadline + 30_000) {
      await new Promise((r) => setTimeout(r, 100));
      batch = await client.batches.retrieve(batch.id);
    }
    expect(batch.status).toBe('cancelled');
    expect(batch.cancelled_at).toEqual(expect.any(Number));
    const output = await download(batch.output_file_id);
    const errors = await download(batch.error_file_id);
    expect(output.length).toBeGreaterThan(0);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((l) => l.response === null && l.error.code === 'batch_cancelled')).toBe(true);
    const ids = [...output, ...errors].map((l) => l.custom_id as string);
    expect(ids.sort()).toEqual(lines.map((l) => (JSON.parse(l) as InputLine).custom_id).sort());
  });
});
