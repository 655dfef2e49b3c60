import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import type { Database } from '../../schema/index.ts';
import { createPgliteDatabase } from '../helpers/database.ts';
import { fixture } from './harness.ts';

describe('the Batch API on the embedded database (PGlite)', () => {
  let database: Database;
  let app: ReturnType<typeof createApp>;
  let client: OpenAI;
  beforeAll(async () => {
    database = await createPgliteDatabase();
    app = createApp({ config: loadGatewayConfig({}), database, logger: createLogger({ level: 'silent' }) });
    client = new OpenAI({
      apiKey: 'unused',
      baseURL: 'http://gateway.test/v1',
      maxRetries: 0,
      fetch: (url, init) => Promise.resolve(app.fetch(new Request(url, init))),
    });
  });
  afterAll(async () => {
    await app.close();
    await database.close();
  });

  it('uploads, validates inside one transaction and queues a batch, and serves the file back', async () => {
    const bytes = fixture('chat-100.jsonl');
    const file = await client.files.create({ file: await toFile(bytes, 'chat.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await app.validator.idle();
    expect(await client.batches.retrieve(created.id)).toMatchObject({ status: 'in_progress', request_counts: { total: 100 } });
    expect(Buffer.from(await (await client.files.content(file.id)).arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('fails a bad file with every bad line', async () => {
    const file = await client.files.create({ file: await toFile(fixture('bad-lines.jsonl'), 'bad.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await app.validator.idle();
    const batch = await client.batches.retrieve(created.id);
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('fails lines whose custom_id or model holds an unpaired surrogate, which no database text can, instead of leaving the batch validating', async () => {
    const text = [
      '{"custom_id": "a\\ud800", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "x"}}',
      '{"custom_id": "b", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m\\udc00", "input": "x"}}',
      '{"custom_id": "c\\ud83d\\ude00", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "\\ud800"}}',
    ].join('\n');
    const file = await client.files.create({ file: await toFile(Buffer.from(text), 'surrogates.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    await app.validator.idle();
    const batch = await client.batches.retrieve(created.id);
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.map((e) => [e.line, e.code, e.param])).toEqual([
      [1, 'invalid_custom_id', 'custom_id'],
      [2, 'invalid_model', 'body.model'],
    ]);
  });
});
