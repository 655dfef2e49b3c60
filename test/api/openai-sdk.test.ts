import { sql } from 'drizzle-orm';
import OpenAI, { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { rows, settleBatch } from '../../schema/index.ts';
import { answerLines } from '../helpers/results.ts';
import { fixture, useApi } from './harness.ts';

const chat = fixture('chat-100.jsonl');

describe('the official OpenAI SDK against the gateway', () => {
  const api = useApi();

  async function upload(client: OpenAI, bytes: Buffer = chat, name = 'chat-100.jsonl') {
    return client.files.create({ file: await toFile(bytes, name), purpose: 'batch' });
  }

  it('uploads a file, then retrieves, lists and downloads the same bytes', async () => {
    const client = api().client();
    const file = await upload(client);
    expect(file).toEqual({
      id: expect.stringMatching(/^file-/),
      object: 'file',
      bytes: chat.length,
      created_at: expect.any(Number),
      filename: 'chat-100.jsonl',
      purpose: 'batch',
      status: 'processed',
    });
    expect(Math.abs(file.created_at - Date.now() / 1000)).toBeLessThan(60);
    expect(await client.files.retrieve(file.id)).toEqual(file);
    const listed = await client.files.list();
    expect(listed.data.map((f) => f.id)).toContain(file.id);
    const content = await client.files.content(file.id);
    expect(Buffer.from(await content.arrayBuffer()).equals(chat)).toBe(true);
  });

  it('creates a batch that is validated and queued with every request as given', async () => {
    const client = api().client();
    const file = await upload(client);
    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { project: 'sdk-test' },
    });
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      input_file_id: file.id,
      completion_window: '24h',
      metadata: { project: 'sdk-test' },
      errors: null,
    });
    expect(created.expires_at! - created.created_at).toBe(86_400);
    await api().validated();
    const batch = await client.batches.retrieve(created.id);
    expect(batch).toMatchObject({
      status: 'in_progress',
      model: 'sim-model',
      request_counts: { total: 100, completed: 0, failed: 0 },
      queue_position: expect.any(Number),
    });
    expect(batch.in_progress_at).toEqual(expect.any(Number));
    const stored = await rows<{ custom_id: string; body: string }>(
      api().db.database.db,
      sql`select custom_id, body from requests where batch_id = ${batch.id} order by line`,
    );
    const lines = chat
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { custom_id: string; body: unknown });
    expect(stored.map((r) => r.custom_id)).toEqual(lines.map((l) => l.custom_id));
    expect(stored.map((r) => JSON.parse(r.body))).toEqual(lines.map((l) => l.body));
  });

  it('lists batches newest first, a page at a time with after and limit', async () => {
    const client = api().client();
    const file = await upload(client, fixture('embeddings-50.jsonl'), 'emb.jsonl');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.unshift((await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' })).id);
    }
    const first = await client.batches.list({ limit: 2 });
    expect(first.data.map((b) => b.id)).toEqual(ids.slice(0, 2));
    expect(first.has_more).toBe(true);
    const second = await client.batches.list({ limit: 2, after: ids[1] });
    expect(second.data[0]?.id).toBe(ids[2]);
    const all: string[] = [];
    for await (const batch of client.batches.list({ limit: 2 })) all.push(batch.id);
    expect(all.slice(0, 3)).toEqual(ids);
    await api().validated();
  });

  it('cancels a batch, keeping finished results, and serves both result files', async () => {
    const client = api().client();
    const file = await upload(client);
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await api().validated();
    const { db } = api().db.database;
    await answerLines(db, created.id, {
      where: sql`r.line <= 2`,
      status: 'succeeded',
      statusCode: 200,
      response: sql`'{"id":"chatcmpl-' || r.line || '","object":"chat.completion","choices":[]}'`,
    });
    const cancelled = await client.batches.cancel(created.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled).toMatchObject({
      request_counts: { total: 100 },
      cancelling_at: expect.any(Number),
      cancelled_at: expect.any(Number),
    });
    const output = await (await client.files.content(cancelled.output_file_id!)).text();
    const outputLines = output
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(outputLines.map((l) => l.custom_id)).toEqual(['cand-0000', 'cand-0001']);
    expect(outputLines[0]).toMatchObject({ response: { status_code: 200, body: { id: 'chatcmpl-1' } }, error: null });
    const errors = (await (await client.files.content(cancelled.error_file_id!)).text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors).toHaveLength(98);
    expect(errors[0]).toMatchObject({ custom_id: 'cand-0002', response: null, error: { code: 'batch_cancelled' } });
    expect(await client.files.retrieve(cancelled.output_file_id!)).toMatchObject({
      purpose: 'batch_output',
      bytes: Buffer.byteLength(output),
    });
    await expect(client.batches.cancel(created.id)).rejects.toMatchObject({ status: 409 });
  });

  it('serves the output file of a completed batch in input order', async () => {
    const client = api().client();
    const file = await upload(client, fixture('embeddings-50.jsonl'), 'emb.jsonl');
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    await api().validated();
    const { db } = api().db.database;
    await answerLines(db, created.id, {
      status: 'succeeded',
      statusCode: 200,
      engineRequestId: sql`'emb-' || r.line`,
      response: sql`'{"object":"list","data":[{"object":"embedding","index":0,"embedding":[' || r.line || ']}]}'`,
    });
    await settleBatch(db, created.id);
    const done = await client.batches.retrieve(created.id);
    expect(done).toMatchObject({
      status: 'completed',
      error_file_id: null,
      request_counts: { total: 50, completed: 50, failed: 0 },
      queue_position: null,
    });
    expect(done.finalizing_at).toEqual(expect.any(Number));
    expect(done.completed_at).toEqual(expect.any(Number));
    const lines = (await (await client.files.content(done.output_file_id!)).text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(50);
    expect(lines.map((l) => l.custom_id)).toEqual(Array.from({ length: 50 }, (_, i) => `emb-${String(i).padStart(3, '0')}`));
    expect(lines[4]).toEqual({
      id: expect.any(String),
      custom_id: 'emb-004',
      response: {
        status_code: 200,
        request_id: 'emb-5',
        body: { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [5] }] },
      },
      error: null,
    });
  });

  it('deletes a file, after which it is not found', async () => {
    const client = api().client();
    const file = await upload(client);
    expect(await client.files.delete(file.id)).toEqual({ id: file.id, object: 'file', deleted: true });
    await expect(client.files.retrieve(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.delete(file.id)).rejects.toMatchObject({ status: 404 });
  });

  it('answers unknown batches and bad requests with OpenAI error bodies', async () => {
    const client = api().client();
    const missing = await client.batches.retrieve('batch_nope').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect((missing as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual({
      message: 'No batch with id batch_nope.',
      type: 'invalid_request_error',
      param: 'batch_id',
      code: null,
    });
    const file = await upload(client);
    const bad = await client.batches
      .create({ input_file_id: file.id, endpoint: '/v1/images' as '/v1/embeddings', completion_window: '24h' })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('endpoint');
    const window = await client.batches
      .create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: 'soon' as '24h' })
      .catch((e: unknown) => e);
    expect((window as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('completion_window');
  });

  it('lists the models of the registry and of live workers', async () => {
    const { db } = api().db.database;
    await db.execute(sql`insert into models (name, source) values ('org/registered', 'hf:org/registered')`);
    await db.execute(sql`insert into models (name, source, enabled) values ('disabled', 'x', false)`);
    await db.execute(
      sql`insert into workers (id, host, gpu, pid, model, engine_url, status) values ('w1', 'h', '0', 1, 'loaded', 'http://e', 'ready')`,
    );
    const models = await api().client().models.list();
    expect(models.data.map((m) => m.id)).toEqual(['loaded', 'org/registered']);
    expect(models.data[0]).toEqual({ id: 'loaded', object: 'model', created: expect.any(Number), owned_by: 'vllm-batch-server' });
    expect((await api().client().models.retrieve('org/registered')).id).toBe('org/registered');
  });
});

describe('routes the gateway does not serve', () => {
  const api = useApi();

  it("answer 404 in OpenAI's error shape", async () => {
    const res = await api().app.request('/v1/fine_tuning/jobs');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: { message: expect.stringContaining('/v1/fine_tuning/jobs'), type: 'invalid_request_error', param: null, code: null },
    });
  });
});
