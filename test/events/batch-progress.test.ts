import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishBatchProgress, publishBatchStatus } from '../../core/events/index.ts';
import { batches } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import {
  BATCH_PROGRESS,
  first,
  insertBatch,
  readAll,
  sseClient,
  startTestGateway,
  wsClient,
  type ProgressResult,
  type TestGateway,
} from './harness.ts';

describe('the batchProgress subscription', () => {
  const test = useTestDatabase();
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway(test().database);
  });
  afterAll(() => gw?.close());

  const progress = (client: ReturnType<typeof sseClient> | ReturnType<typeof wsClient>, id: string) =>
    client.iterate({ query: BATCH_PROGRESS, variables: { id } }) as AsyncIterableIterator<ProgressResult>;

  const complete = async (id: string, counters: { completed: number; failed?: number }) => {
    await test()
      .database.db.update(batches)
      .set({ status: 'completed', completed: counters.completed, failed: counters.failed ?? 0 })
      .where(eq(batches.id, id));
    await publishBatchStatus(gw.remote, { batchId: id, owner: 'local', from: 'finalizing', to: 'completed' });
  };

  it('starts with the state read from postgres, follows published progress, and completes after the final status (SSE)', async () => {
    const id = await insertBatch(test().database, { total: 10, completed: 2 });
    const events = progress(sseClient(gw.url), id);
    const initial = await first(events);
    expect(initial.data?.batchProgress).toMatchObject({
      batchId: id,
      status: 'in_progress',
      total: 10,
      completed: 2,
      remaining: 8,
      final: false,
    });

    await publishBatchProgress(gw.remote, {
      batchId: id,
      owner: 'local',
      status: 'in_progress',
      total: 10,
      completed: 5,
      failed: 1,
      promptTokens: 60,
      completionTokens: 600,
    });
    const next = await first(events);
    expect(next.data?.batchProgress).toMatchObject({ completed: 5, failed: 1, remaining: 4, final: false });

    await complete(id, { completed: 9, failed: 1 });
    const rest = await readAll(events);
    expect(rest.at(-1)?.data?.batchProgress).toMatchObject({
      status: 'completed',
      completed: 9,
      failed: 1,
      remaining: 0,
      final: true,
      estimatedSecondsLeft: 0,
    });
  });

  it('delivers the same over graphql-ws', async () => {
    const id = await insertBatch(test().database, { total: 4 });
    const client = wsClient(gw.url);
    try {
      const events = progress(client, id);
      expect((await first(events)).data?.batchProgress).toMatchObject({ completed: 0, total: 4 });
      await publishBatchProgress(gw.remote, {
        batchId: id,
        owner: 'local',
        status: 'in_progress',
        total: 4,
        completed: 3,
        failed: 0,
        promptTokens: 1,
        completionTokens: 1,
      });
      expect((await first(events)).data?.batchProgress).toMatchObject({ completed: 3 });
      await complete(id, { completed: 4 });
      const rest = await readAll(events);
      expect(rest.at(-1)?.data?.batchProgress).toMatchObject({ status: 'completed', completed: 4, final: true });
    } finally {
      await client.dispose();
    }
  });

  it('sends one final event and completes for a batch that has already ended', async () => {
    const id = await insertBatch(test().database, { status: 'cancelled', total: 5, completed: 1 });
    const events = await readAll(progress(sseClient(gw.url), id));
    expect(events.map((e) => e.data?.batchProgress)).toEqual([expect.objectContaining({ status: 'cancelled', completed: 1, final: true })]);
  });

  it('coalesces a burst of progress into a few events that end with the latest counters', async () => {
    const id = await insertBatch(test().database, { total: 200 });
    const events = progress(sseClient(gw.url), id);
    await first(events);
    for (let done = 1; done <= 199; done++) {
      await publishBatchProgress(gw.remote, {
        batchId: id,
        owner: 'local',
        status: 'in_progress',
        total: 200,
        completed: done,
        failed: 0,
        promptTokens: done,
        completionTokens: done,
      });
    }
    const seen = await readAll(events, { until: (e) => e.data?.batchProgress.completed === 199 });
    expect(seen.length).toBeLessThan(20);
    expect(seen.at(-1)?.data?.batchProgress).toMatchObject({ completed: 199, remaining: 1 });
  });

  it('sends every status change at once, however soon after the previous event', async () => {
    const id = await insertBatch(test().database, { status: 'validating', total: 0 });
    const events = progress(sseClient(gw.url), id);
    expect((await first(events)).data?.batchProgress.status).toBe('validating');
    await publishBatchStatus(gw.remote, { batchId: id, owner: 'local', from: 'validating', to: 'in_progress' });
    await publishBatchProgress(gw.remote, {
      batchId: id,
      owner: 'local',
      status: 'in_progress',
      total: 2,
      completed: 2,
      failed: 0,
      promptTokens: 0,
      completionTokens: 0,
    });
    await publishBatchStatus(gw.remote, { batchId: id, owner: 'local', from: 'in_progress', to: 'finalizing' });
    await complete(id, { completed: 2 });
    const statuses = (await readAll(events)).map((e) => e.data?.batchProgress.status);
    expect(statuses.filter((s, i) => s !== statuses[i - 1])).toEqual(['in_progress', 'finalizing', 'completed']);
  });

  it('sends the total with the in_progress that ends validation, not a total of 0', async () => {
    const id = await insertBatch(test().database, { status: 'validating', total: 0 });
    const events = progress(sseClient(gw.url), id);
    expect((await first(events)).data?.batchProgress).toMatchObject({ status: 'validating', total: 0 });
    // What ingest does: the row gets its requests and status in one transaction, then the status goes out.
    await test().database.db.update(batches).set({ status: 'in_progress', total: 42 }).where(eq(batches.id, id));
    await publishBatchStatus(gw.remote, { batchId: id, owner: 'local', from: 'validating', to: 'in_progress' });
    expect((await first(events)).data?.batchProgress).toMatchObject({ status: 'in_progress', total: 42, remaining: 42 });
    await complete(id, { completed: 42 });
    await readAll(events);
  });

  it('never goes back when events arrive out of order', async () => {
    const id = await insertBatch(test().database, { total: 10 });
    const events = progress(sseClient(gw.url), id);
    await first(events);
    await publishBatchProgress(gw.remote, {
      batchId: id,
      owner: 'local',
      status: 'in_progress',
      total: 10,
      completed: 7,
      failed: 0,
      promptTokens: 0,
      completionTokens: 0,
    });
    expect((await first(events)).data?.batchProgress.completed).toBe(7);
    await publishBatchProgress(gw.remote, {
      batchId: id,
      owner: 'local',
      status: 'in_progress',
      total: 10,
      completed: 4,
      failed: 0,
      promptTokens: 0,
      completionTokens: 0,
    });
    await complete(id, { completed: 10 });
    const rest = await readAll(events);
    expect(rest.map((e) => e.data?.batchProgress.completed)).toEqual([10]);
  });

  it('answers not found for a batch of another owner, and for an unknown id', async () => {
    const theirs = await insertBatch(test().database, { owner: 'key_someone_else' });
    for (const id of [theirs, 'batch_missing']) {
      const [result] = await readAll(progress(sseClient(gw.url), id));
      expect(result?.data ?? null).toBeNull();
      expect(result?.errors?.[0]).toMatchObject({ message: expect.stringMatching(/No batch with id/), extensions: { code: 'NOT_FOUND' } });
    }
  });

  it('gives every one of 200 concurrent subscribers the final event, over one bus subscription', async () => {
    const id = await insertBatch(test().database, { total: 3 });
    const client = sseClient(gw.url);
    const subscribers = Array.from({ length: 200 }, () => progress(client, id));
    await Promise.all(subscribers.map((s) => first(s, 30_000)));
    const text = await (await gw.app.request('/metrics')).text();
    expect(text).toMatch(/vbs_gateway_subscriptions\{subscription="batchProgress"\} 200\b/);
    await complete(id, { completed: 3 });
    const finals = await Promise.all(subscribers.map((s) => readAll(s, { timeoutMs: 30_000 })));
    expect(finals.filter((events) => events.at(-1)?.data?.batchProgress.final === true)).toHaveLength(200);
  });
});
