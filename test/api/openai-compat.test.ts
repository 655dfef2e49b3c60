import { sql } from 'drizzle-orm';
import OpenAI, { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { settleBatch } from '../../schema/index.ts';
import { answerLines } from '../helpers/results.ts';
import { fixture, useApi } from './harness.ts';

const KEYS = ['key-shape', 'key-pages', 'key-metadata', 'key-retry', 'key-delete', 'key-sweep'];

/** What the official SDK sees where its declarations and OpenAI's API are the reference; each test has a key (an owner) of its own. */
describe('the REST surface as the OpenAI SDK declares it', () => {
  const api = useApi({ API_KEYS: KEYS.join(',') });
  const embeddings = fixture('embeddings-50.jsonl');

  const upload = async (client: OpenAI, name = 'emb.jsonl') =>
    client.files.create({ file: await toFile(embeddings, name), purpose: 'batch' });
  const create = (client: OpenAI, fileId: string) =>
    client.batches.create({ input_file_id: fileId, endpoint: '/v1/embeddings', completion_window: '24h' });

  /** Ends a validated batch as completed: even lines succeeded, odd lines failed with a 400 from the engine. */
  async function finish(batchId: string) {
    const { db } = api().db.database;
    await answerLines(db, batchId, {
      where: sql`r.line % 2 = 0`,
      status: 'succeeded',
      statusCode: 200,
      response: '{"object":"list","data":[]}',
    });
    await answerLines(db, batchId, {
      where: sql`r.line % 2 = 1`,
      status: 'failed',
      statusCode: 400,
      response: '{"error":{"message":"bad input"}}',
    });
    await settleBatch(db, batchId);
  }

  it('gives a batch every field the SDK declares, null until it happens, and serves the bytes its files announce', async () => {
    const client = api().client('key-shape');
    const file = await upload(client);
    const created = await create(client, file.id);
    expect(created).toEqual({
      id: expect.stringMatching(/^batch_/),
      object: 'batch',
      endpoint: '/v1/embeddings',
      model: null,
      errors: null,
      input_file_id: file.id,
      completion_window: '24h',
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: expect.any(Number),
      in_progress_at: null,
      expires_at: created.created_at + 86_400,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      metadata: null,
      usage: {
        input_tokens: 0,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 0,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 0,
      },
      priority: 0,
      queue_position: expect.any(Number),
      estimated_completion_at: null,
      paused_at: null,
      max_failed_requests: null,
      max_failure_ratio: null,
      min_requests_for_ratio: null,
      budget_exceeded_at: null,
    });
    await api().validated();
    await finish(created.id);
    const done = await client.batches.retrieve(created.id);
    expect(done).toMatchObject({
      status: 'completed',
      model: 'sim-embed',
      request_counts: { total: 50, completed: 25, failed: 25 },
      failed_at: null,
      cancelled_at: null,
    });
    for (const stamp of [done.in_progress_at, done.finalizing_at, done.completed_at]) expect(stamp).toEqual(expect.any(Number));
    const files = [
      {
        id: done.output_file_id!,
        purpose: 'batch_output',
        first: { custom_id: 'emb-001', response: { status_code: 200, body: { object: 'list', data: [] } }, error: null },
      },
      // OpenAI names its error files batch_output too; the SDKs know no other purpose for them.
      {
        id: done.error_file_id!,
        purpose: 'batch_output',
        first: { custom_id: 'emb-000', response: { status_code: 400, body: { error: { message: 'bad input' } } } },
      },
    ];
    for (const expected of files) {
      const described = await client.files.retrieve(expected.id);
      expect(described).toEqual({
        id: expected.id,
        object: 'file',
        bytes: expect.any(Number),
        created_at: expect.any(Number),
        filename: expect.stringMatching(/\.jsonl$/),
        purpose: expected.purpose,
        status: 'processed',
      });
      const content = await client.files.content(expected.id);
      expect(content.headers.get('content-type')).toBe('application/octet-stream');
      const bytes = Buffer.from(await content.arrayBuffer());
      expect(bytes.length).toBe(described.bytes);
      const lines = bytes
        .toString('utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toHaveLength(25);
      expect(lines[0]).toMatchObject(expected.first);
    }
  });

  it('walks every batch and every file exactly once when the SDK pages through them, and stops', async () => {
    const client = api().client('key-pages');
    const files: string[] = [];
    for (let i = 0; i < 5; i++) files.push((await upload(client, `f${i}.jsonl`)).id);
    const batches: string[] = [];
    for (let i = 0; i < 5; i++) batches.push((await create(client, files[i]!)).id);
    await api().validated();
    const walk = async (list: AsyncIterable<{ id: string }>) => {
      const seen: string[] = [];
      for await (const item of list) seen.push(item.id);
      return seen;
    };
    expect(await walk(client.batches.list({ limit: 2 }))).toEqual([...batches].reverse());
    expect(await walk(client.batches.list({ limit: 5 }))).toEqual([...batches].reverse());
    expect(await walk(client.files.list({ limit: 2 }))).toEqual([...files].reverse());
    expect(await walk(client.files.list({ limit: 2, order: 'asc' }))).toEqual(files);
    const last = await client.batches.list({ limit: 2, after: batches[1] });
    expect(last.data.map((b) => b.id)).toEqual([batches[0]]);
    expect(last.has_more).toBe(false);
    expect(last.hasNextPage()).toBe(false);
  });

  it("holds metadata to OpenAI's limits, naming metadata or the key at fault as written", async () => {
    const client = api().client('key-metadata');
    const file = await upload(client);
    const largest = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`${i}`.padEnd(64, 'k'), 'v'.repeat(512)]));
    const accepted = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/embeddings',
      completion_window: '24h',
      metadata: largest,
    });
    expect(accepted.metadata).toEqual(largest);
    expect((await client.batches.retrieve(accepted.id)).metadata).toEqual(largest);
    const refused = async (metadata: unknown) => {
      const error = await client.batches
        .create({
          input_file_id: file.id,
          endpoint: '/v1/embeddings',
          completion_window: '24h',
          metadata: metadata as Record<string, string>,
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      return (error as InstanceType<typeof OpenAI.BadRequestError>).error;
    };
    const longKey = 'projectName'.padEnd(65, 'x');
    expect(await refused({ ...largest, extra: 'v' })).toEqual({
      message: 'metadata holds at most 16 pairs',
      type: 'invalid_request_error',
      param: 'metadata',
      code: null,
    });
    expect(await refused({ [longKey]: 'v' })).toEqual({
      message: `metadata keys are at most 64 characters; "${longKey}" has 65`,
      type: 'invalid_request_error',
      param: 'metadata',
      code: null,
    });
    expect(await refused({ projectName: 'v'.repeat(513) })).toMatchObject({
      message: 'metadata values are strings of at most 512 characters',
      param: 'metadata.projectName',
    });
    expect(await refused({ projectName: 7 })).toMatchObject({
      message: 'metadata values are strings of at most 512 characters',
      param: 'metadata.projectName',
    });
    expect(await refused(['projectName'])).toMatchObject({
      message: 'metadata must be an object of at most 16 pairs of strings',
      param: 'metadata',
    });
    expect((await client.batches.list()).data.map((b) => b.id)).toEqual([accepted.id]);
  });

  it('tells the SDK not to retry a batch that can no longer be cancelled, which it would otherwise send three times', async () => {
    let requests = 0;
    const client = new OpenAI({
      apiKey: 'key-retry',
      baseURL: 'http://gateway.test/v1',
      fetch: (url, init) => {
        requests++;
        return Promise.resolve(api().app.fetch(new Request(url, init)));
      },
    });
    const created = await create(client, (await upload(client)).id);
    await api().validated();
    expect((await client.batches.cancel(created.id)).status).toBe('cancelled');
    requests = 0;
    const refused = await client.batches.cancel(created.id).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.ConflictError);
    expect((refused as InstanceType<typeof OpenAI.ConflictError>).headers.get('x-should-retry')).toBe('false');
    expect(requests).toBe(1);
  });

  it('deletes every file of a list while paging through it, as the SDK pages', async () => {
    const client = api().client('key-sweep');
    const files: string[] = [];
    for (let i = 0; i < 5; i++) files.push((await upload(client, `s${i}.jsonl`)).id);
    const deleted: string[] = [];
    for await (const file of client.files.list({ limit: 2 })) {
      await client.files.delete(file.id);
      deleted.push(file.id);
    }
    expect(deleted).toEqual([...files].reverse());
    expect((await client.files.list()).data).toEqual([]);
    await expect(client.files.delete(files[0]!)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.retrieve(files[0]!)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    // Another key's deleted file is no cursor of this one's list.
    await expect(api().client('key-pages').files.list({ after: files[0]! })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('keeps a running batch and its results when its input file is deleted', async () => {
    const client = api().client('key-delete');
    const file = await upload(client);
    const created = await create(client, file.id);
    await api().validated();
    expect(await client.files.delete(file.id)).toEqual({ id: file.id, object: 'file', deleted: true });
    expect(await client.batches.retrieve(created.id)).toMatchObject({
      status: 'in_progress',
      input_file_id: file.id,
      request_counts: { total: 50 },
    });
    await finish(created.id);
    const done = await client.batches.retrieve(created.id);
    expect(done.status).toBe('completed');
    const output = (await (await client.files.content(done.output_file_id!)).text()).trimEnd().split('\n');
    expect(output).toHaveLength(25);
    await expect(client.files.content(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});
