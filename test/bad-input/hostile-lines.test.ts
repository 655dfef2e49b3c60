import OpenAI, { toFile } from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start, type Running } from '../helpers/processes.ts';

const request = (fields: Record<string, string>) =>
  `{"custom_id": ${fields.custom_id ?? '"x"'}, "method": ${fields.method ?? '"POST"'}, "url": ${fields.url ?? '"/v1/embeddings"'}, "body": {"model": "m", "input": "x"}}`;

const MEGABYTE = 'y'.repeat(1024 * 1024);
const DEEP = 1_000_000;

// The default runtime (Bun), whose JSON.parse words some errors differently from Node's.
describe('input lines that quote megabytes or nest a million deep, on a Bun gateway', { timeout: 120_000 }, () => {
  const test = useTestDatabase();
  let gateway: Running | undefined;
  afterAll(async () => {
    await gateway?.stop();
  });

  it('fail their batch with every line reported in a short message, instead of leaving it validating', async () => {
    gateway = start(BUN, ['gateway/entry/bun.ts'], { env: { DATABASE_URL: test().url, PORT: '0', LOG_LEVEL: 'info' } });
    const [, url] = await gateway.waitFor(/"url":"(http:[^"]+)"/);
    const client = new OpenAI({ apiKey: 'unused', baseURL: `${url}/v1`, maxRetries: 0 });
    const text = [
      request({ custom_id: '"deep-method"', method: `${'['.repeat(DEEP)}${']'.repeat(DEEP)}` }),
      request({ custom_id: '"deep-url"', url: `${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}` }),
      request({ custom_id: '"long-method"', method: `"${MEGABYTE}"` }),
      request({ custom_id: `"${MEGABYTE}"` }),
      request({ custom_id: `"${MEGABYTE}"` }),
      // Bun's JSON.parse names the token it stopped at: here half of an emoji, which jsonb cannot store.
      `{"custom_id": "emoji", "n": 1${'😀'.repeat(20)}}`,
    ].join('\n');
    const file = await client.files.create({ file: await toFile(Buffer.from(text), 'hostile.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    let batch = await client.batches.retrieve(created.id);
    for (const deadline = Date.now() + 60_000; batch.status === 'validating' && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      batch = await client.batches.retrieve(created.id);
    }
    expect(batch.status).toBe('failed');
    const errors = batch.errors?.data ?? [];
    expect(errors.map((e) => [e.line, e.code])).toEqual([
      [1, 'invalid_method'],
      [2, 'invalid_url'],
      [3, 'invalid_method'],
      [5, 'duplicate_custom_id'],
      [6, 'invalid_json'],
    ]);
    for (const error of errors) expect(error.message?.length, error.code).toBeLessThan(400);
  });
});
