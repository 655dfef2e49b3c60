import { sql } from 'drizzle-orm';
import OpenAI, { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { batchEstimates, leaseRequests, modelDemand, newId, QUEUE_CHANNEL, queueShares, rows, sweepBatches } from '../../schema/index.ts';
import { useApi } from './harness.ts';

const ALICE = 'key-alice';
const BOB = 'key-bob';

/** A chat batch file of `count` lines for a model of its own, so what the queue counts of it is this test's alone. */
function chatFile(model: string, count: number): string {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      custom_id: `req-${i + 1}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model, messages: [{ role: 'user', content: `question ${i + 1}` }] },
    }),
  ).join('\n');
}

interface BatchJson {
  id: string;
  status: string;
  paused_at: number | null;
  queue_position: number | null;
  request_counts: { total: number };
}

describe('pausing and resuming a batch', () => {
  const api = useApi({ API_KEYS: `${ALICE},${BOB}` });
  const auth = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });

  async function created(model: string, { count = 20, priority = 0, key = ALICE } = {}): Promise<BatchJson> {
    const client: OpenAI = api().client(key);
    const file = await client.files.create({ file: await toFile(Buffer.from(chatFile(model, count)), 'chat.jsonl'), purpose: 'batch' });
    const res = await api().app.request('/v1/batches', {
      method: 'POST',
      headers: auth(key),
      body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', priority }),
    });
    expect(res.status).toBe(200);
    await api().validated();
    return (await res.json()) as BatchJson;
  }

  const post = (id: string, action: 'pause' | 'resume' | 'cancel', key = ALICE) =>
    api().app.request(`/v1/batches/${id}/${action}`, { method: 'POST', headers: auth(key) });
  const get = async (id: string, key = ALICE) =>
    (await (await api().app.request(`/v1/batches/${id}`, { headers: auth(key) })).json()) as BatchJson;
  const graphql = async (query: string, variables: Record<string, unknown>, key = ALICE) =>
    (await (
      await api().app.request('/graphql', { method: 'POST', headers: auth(key), body: JSON.stringify({ query, variables }) })
    ).json()) as { data?: Record<string, { id: string; status: string; pausedAt: string | null }>; errors?: { message: string }[] };

  it('answers the Batch object still in_progress with paused_at, keeps the first paused_at when paused twice, and clears it on resume', async () => {
    const batch = await created(`pause-model-${newId('m')}`);
    expect(batch.paused_at).toBeNull();
    const paused = await post(batch.id, 'pause');
    expect(paused.status).toBe(200);
    const body = (await paused.json()) as BatchJson;
    expect(body).toMatchObject({ id: batch.id, object: 'batch', status: 'in_progress', paused_at: expect.any(Number) });
    // Out of the queue while paused: no position, no estimate.
    expect(body).toMatchObject({ queue_position: null, estimated_completion_at: null });
    const again = (await (await post(batch.id, 'pause')).json()) as BatchJson;
    expect(again.paused_at).toBe(body.paused_at);
    expect((await get(batch.id)).paused_at).toBe(body.paused_at);
    // The OpenAI SDK reads it as a batch like any other.
    expect((await api().client(ALICE).batches.retrieve(batch.id)).status).toBe('in_progress');

    const resumed = await post(batch.id, 'resume');
    expect(resumed.status).toBe(200);
    expect(await resumed.json()).toMatchObject({
      id: batch.id,
      status: 'in_progress',
      paused_at: null,
      queue_position: expect.any(Number),
    });
    expect((await (await post(batch.id, 'resume')).json()) as BatchJson).toMatchObject({ paused_at: null });
  });

  it('pauses and resumes through GraphQL, with Batch.pausedAt', async () => {
    const batch = await created(`pause-model-${newId('m')}`);
    const paused = await graphql('mutation ($id: ID!) { pauseBatch(id: $id) { id status pausedAt } }', { id: batch.id });
    expect(paused.errors).toBeUndefined();
    expect(paused.data?.pauseBatch).toMatchObject({ id: batch.id, status: 'in_progress', pausedAt: expect.any(String) });
    const read = await graphql('query ($id: ID!) { batch(id: $id) { pausedAt } }', { id: batch.id });
    expect(read.data?.batch?.pausedAt).toBe(paused.data?.pauseBatch?.pausedAt);
    const resumed = await graphql('mutation ($id: ID!) { resumeBatch(id: $id) { id pausedAt } }', { id: batch.id });
    expect(resumed.data?.resumeBatch).toEqual({ id: batch.id, pausedAt: null });
  });

  it("answers 404 for another key's batch, as every batch route does, and leaves it running", async () => {
    const batch = await created(`pause-model-${newId('m')}`);
    for (const action of ['pause', 'resume'] as const) {
      const res = await post(batch.id, action, BOB);
      expect(res.status, action).toBe(404);
      expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringContaining(batch.id) } });
    }
    const sdk = await api()
      .client(BOB)
      .post(`/batches/${batch.id}/pause`)
      .catch((e: unknown) => e);
    expect(sdk).toBeInstanceOf(OpenAI.NotFoundError);
    const mutation = await graphql('mutation ($id: ID!) { pauseBatch(id: $id) { id } }', { id: batch.id }, BOB);
    expect(mutation.errors?.[0]?.message).toContain('No batch');
    expect((await get(batch.id)).paused_at).toBeNull();
  });

  it('refuses to pause or resume a batch that has ended with a 409 naming its status and what to do', async () => {
    const batch = await created(`pause-model-${newId('m')}`);
    expect((await post(batch.id, 'cancel')).status).toBe(200);
    const pause = await post(batch.id, 'pause');
    expect(pause.status).toBe(409);
    const pauseError = ((await pause.json()) as { error: { type: string; message: string; param: string } }).error;
    expect(pauseError).toMatchObject({ type: 'invalid_request_error', param: 'batch_id' });
    expect(pauseError.message).toMatch(/is cancelled: only a validating or in_progress batch can be paused/);
    const resume = await post(batch.id, 'resume');
    expect(resume.status).toBe(409);
    expect(((await resume.json()) as { error: { message: string } }).error.message).toMatch(
      /is cancelled and can no longer be resumed; .*retry/,
    );
  });

  it('leases nothing of a paused batch, and leaves its lines out of model demand, queue shares and queue positions', async () => {
    const model = `pause-model-${newId('m')}`;
    const db = api().db.database.db;
    await db.execute(sql`insert into models (name, source) values (${model}, 'org/pause-test')`);
    const first = await created(model, { count: 30, priority: 5 });
    const second = await created(model, { count: 20 });
    const queued = async () => (await modelDemand(db, { except: 'nobody', liveMs: 30_000 })).find((m) => m.name === model)?.queued;
    const shares = async () => (await queueShares(db, { model }))[0]?.queuedLines ?? 0;
    const position = async () => (await batchEstimates(db, [second.id])).get(second.id)?.queuePosition;
    expect(await queued()).toBe(50);
    expect(await shares()).toBe(50);
    expect(await position()).toBe(1);

    await post(first.id, 'pause');
    expect(await queued()).toBe(20);
    expect(await shares()).toBe(20);
    expect(await position()).toBe(0);
    // The first batch ranks first (priority 5); paused, it is passed over.
    const leased = await leaseRequests(db, { owner: 'worker-a', model, limit: 100, leaseMs: 60_000 });
    expect(new Set(leased.map((r) => r.batchId))).toEqual(new Set([second.id]));
    expect(leased).toHaveLength(20);
    expect(await leaseRequests(db, { owner: 'worker-a', model, limit: 100, leaseMs: 60_000 })).toEqual([]);

    await post(first.id, 'resume');
    expect(await queued()).toBe(30);
    const after = await leaseRequests(db, { owner: 'worker-a', model, limit: 100, leaseMs: 60_000 });
    expect(after.map((r) => r.line).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(new Set(after.map((r) => r.batchId))).toEqual(new Set([first.id]));
  });

  it('wakes idle workers of the batch models on resume (NOTIFY on the queue channel)', async () => {
    const model = `pause-model-${newId('m')}`;
    const batch = await created(model);
    await post(batch.id, 'pause');
    const heard: string[] = [];
    const stop = await api().db.database.listen(QUEUE_CHANNEL, (payload) => heard.push(payload));
    try {
      await post(batch.id, 'resume');
      await expect.poll(() => heard).toContain(model);
    } finally {
      await stop();
    }
  });

  it('cancels a paused batch', async () => {
    const batch = await created(`pause-model-${newId('m')}`);
    await post(batch.id, 'pause');
    const cancelled = await post(batch.id, 'cancel');
    expect(cancelled.status).toBe(200);
    expect(((await cancelled.json()) as BatchJson).status).toBe('cancelled');
  });

  it('expires a paused batch when its completion window ends', async () => {
    const batch = await created(`pause-model-${newId('m')}`);
    await post(batch.id, 'pause');
    const db = api().db.database.db;
    await db.execute(sql`update batches set expires_at = now() - interval '1 second' where id = ${batch.id}`);
    await sweepBatches(db);
    const [row] = await rows<{ status: string }>(db, sql`select status from batches where id = ${batch.id}`);
    expect(row?.status).toBe('expired');
    expect((await get(batch.id)).status).toBe('expired');
  });
});
