import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
  batchEstimates,
  batchStats,
  cancelBatch,
  claimValidations,
  copyText,
  createBatch,
  extendValidation,
  getBatch,
  ingestBatch,
  listBatches,
  newId,
  readFileChunks,
  retryBatch,
  rows,
  type Database,
  type NewRequest,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { answer } from '../queue/batch-fixtures.ts';

function newBatch(database: Database, owner = 'alice', { priority = 0, lease = 60, validator = 'v1' } = {}) {
  return createBatch(database.db, {
    id: newId('batch_'),
    owner,
    endpoint: '/v1/chat/completions',
    inputFileId: newId('file-'),
    completionWindow: '24h',
    completionWindowSeconds: 86_400,
    metadata: { project: 'x' },
    priority,
    handlers: {},
    validationOwner: validator,
    validationLeaseSeconds: lease,
  });
}

/** A worker of `model` that reported finishing `rate` requests per second, its last heartbeat `heartbeatAgo`. */
async function addWorker(database: Database, model: string, { rate, heartbeatAgo }: { rate: number; heartbeatAgo: string }) {
  await database.db.execute(sql`
    insert into workers (id, host, gpu, pid, model, engine_url, status, completion_rate, heartbeat_at)
    values (${newId('worker_')}, 'host', '0', 1, ${model}, 'http://engine', 'ready', ${rate}, now() - ${heartbeatAgo}::interval)`);
}

const requestsOf = (models: string[]): NewRequest[] =>
  models.map((model, i) => ({
    line: i + 1,
    customId: `c${i + 1}`,
    model,
    body: `{"model": "${model}", "seed": 12345678901234567890, "x": 1.0}`,
  }));

async function* pages(...list: NewRequest[][]) {
  yield* list;
}

async function ingest(database: Database, batchId: string, models: string[], validator = 'v1') {
  return ingestBatch(database, { batchId, validationOwner: validator, priority: 3 }, () => pages(requestsOf(models)));
}

describe.each(DRIVERS)('batch statements on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('creates a batch in validating that only its owner can read', async () => {
    const batch = await newBatch(database());
    expect(batch).toMatchObject({ owner: 'alice', status: 'validating', metadata: { project: 'x' }, errors: null, total: 0 });
    expect(batch.expiresAtMs - batch.createdAtMs).toBeCloseTo(86_400_000, -3);
    expect(await getBatch(database().db, batch.id, 'alice')).toEqual(batch);
    expect(await getBatch(database().db, batch.id, 'bob')).toBeUndefined();
  });

  it('queues every request and starts the batch in one step, bodies kept as given', async () => {
    const batch = await newBatch(database());
    const outcome = await ingestBatch(database(), { batchId: batch.id, validationOwner: 'v1', priority: 3 }, () =>
      pages(
        requestsOf(['m1', 'm1']),
        requestsOf(['m2']).map((r) => ({ ...r, line: 3, customId: 'c3' })),
      ),
    );
    expect(outcome).toEqual({ kind: 'in_progress', total: 3, models: ['m1', 'm2'] });
    const started = await getBatch(database().db, batch.id, 'alice');
    expect(started).toMatchObject({ status: 'in_progress', total: 3, model: null });
    expect(started?.inProgressAtMs).not.toBeNull();
    const stored = await rows<{ line: number; body: string; priority: number; model: string }>(
      database().db,
      sql`select line, body, priority, model from requests where batch_id = ${batch.id} order by line`,
    );
    expect(stored.map((r) => [r.line, r.model, r.priority])).toEqual([
      [1, 'm1', 3],
      [2, 'm1', 3],
      [3, 'm2', 3],
    ]);
    expect(stored[0]?.body).toBe('{"model": "m1", "seed": 12345678901234567890, "x": 1.0}');
  });

  it('keeps nothing when producing the requests fails', async () => {
    const batch = await newBatch(database());
    const failing = async function* () {
      yield requestsOf(['m1']);
      throw new Error('bad line');
    };
    await expect(ingestBatch(database(), { batchId: batch.id, validationOwner: 'v1', priority: 0 }, failing)).rejects.toThrow('bad line');
    const [count] = await rows<{ n: number }>(database().db, sql`select count(*)::int as n from requests where batch_id = ${batch.id}`);
    expect(count?.n).toBe(0);
    expect((await getBatch(database().db, batch.id, 'alice'))?.status).toBe('validating');
    // The aborted ingest left nothing behind that stops the next try.
    expect(await ingest(database(), batch.id, ['m1', 'm1'])).toEqual({ kind: 'in_progress', total: 2, models: ['m1'] });
  });

  it('fails, keeping nothing, when the database refuses a row after the last one was sent, instead of hanging', {
    timeout: 15_000,
  }, async () => {
    const batch = await newBatch(database());
    // Two requests on one line break the unique (batch_id, line) index: Postgres refuses the
    // rows only once the last page has gone out, when the COPY has already been ended.
    const clash = requestsOf(['m1', 'm1']).map((r) => ({ ...r, line: 1 }));
    const outcome = ingestBatch(database(), { batchId: batch.id, validationOwner: 'v1', priority: 0 }, () => pages(clash));
    const late = new Promise((resolve) => setTimeout(resolve, 5_000, 'still waiting'));
    expect(
      await Promise.race([
        outcome.then(
          () => 'resolved',
          () => 'rejected',
        ),
        late,
      ]),
    ).toBe('rejected');
    const [count] = await rows<{ n: number }>(database().db, sql`select count(*)::int as n from requests where batch_id = ${batch.id}`);
    expect(count?.n).toBe(0);
    expect(await ingest(database(), batch.id, ['m1'])).toEqual({ kind: 'in_progress', total: 1, models: ['m1'] });
  });

  it('stores custom_ids, models and bodies holding tabs, newlines, backslashes, quotes and non-ASCII exactly as given', async () => {
    const batch = await newBatch(database());
    const given: NewRequest[] = [
      { line: 1, customId: 'tab\\there\tand\nnewline\r\n', model: 'm\\1\t', body: '{"text": "a\\tb\\nc \\\\ \\"q\\" é ☃ 😀",\t"x":\r1}' },
      { line: 2, customId: '\\N', model: 'm2', body: '{"end": "\\\\.", "raw": "\\\\N"}' },
      { line: 3, customId: "'; drop table requests; --", model: 'm2', body: '\\.' },
      { line: 4, customId: 'é☃😀\u2028', model: 'm2', body: '{"x": "\\u0000 ok"}' },
    ];
    expect(
      await ingestBatch(database(), { batchId: batch.id, validationOwner: 'v1', priority: 1 }, () =>
        pages(given.slice(0, 2), given.slice(2)),
      ),
    ).toMatchObject({ total: 4 });
    const stored = await rows<{ line: number; custom_id: string; model: string; body: string }>(
      database().db,
      sql`select line, custom_id, model, body from requests where batch_id = ${batch.id} order by line`,
    );
    expect(stored.map((r) => ({ line: r.line, customId: r.custom_id, model: r.model, body: r.body }))).toEqual(given);
  });

  it.runIf(driver === 'postgres')('keeps nothing when the batch is cancelled while its requests stream in', async () => {
    const batch = await newBatch(database());
    const cancelling = async function* () {
      yield requestsOf(['m1', 'm1']);
      // The requests above are on their way into the transaction's COPY; the cancel commits on another connection.
      expect((await cancelBatch(database().db, batch.id, 'alice')).kind).toBe('cancelling');
      yield requestsOf(['m1', 'm1', 'm1'])
        .slice(2)
        .map((r) => ({ ...r, line: 3, customId: 'c3' }));
    };
    expect(await ingestBatch(database(), { batchId: batch.id, validationOwner: 'v1', priority: 0 }, cancelling)).toEqual({ kind: 'lost' });
    const [count] = await rows<{ n: number }>(database().db, sql`select count(*)::int as n from requests where batch_id = ${batch.id}`);
    expect(count?.n).toBe(0);
    expect((await getBatch(database().db, batch.id, 'alice'))?.status).toBe('cancelled');
  });

  it('keeps nothing when the batch was cancelled while validating', async () => {
    const batch = await newBatch(database());
    expect((await cancelBatch(database().db, batch.id, 'alice')).kind).toBe('cancelling');
    expect(await ingest(database(), batch.id, ['m1'])).toEqual({ kind: 'lost' });
    const [count] = await rows<{ n: number }>(database().db, sql`select count(*)::int as n from requests where batch_id = ${batch.id}`);
    expect(count?.n).toBe(0);
  });

  it('hands a validation over only once its lease has expired', async () => {
    const held = await newBatch(database(), 'alice', { lease: 60, validator: 'dead' });
    const stale = await newBatch(database(), 'alice', { lease: 60, validator: 'dead' });
    await database().db.execute(sql`update batches set validation_expires_at = now() - interval '1 second' where id = ${stale.id}`);
    const claimed = (await claimValidations(database().db, 'v2', 60)).map((job) => job.id);
    expect(claimed).toContain(stale.id);
    expect(claimed).not.toContain(held.id);
    expect((await claimValidations(database().db, 'v3', 60)).map((job) => job.id)).not.toContain(stale.id);
    expect(await extendValidation(database().db, stale.id, 'dead', 60)).toBe(false);
    expect(await extendValidation(database().db, stale.id, 'v2', 60)).toBe(true);
    expect(await ingest(database(), stale.id, ['m1'], 'dead')).toEqual({ kind: 'lost' });
    expect((await ingest(database(), stale.id, ['m1'], 'v2')).kind).toBe('in_progress');
  });

  it('pages through batches newest first, filtered by status and model', async () => {
    const owner = newId('owner_');
    const a = await newBatch(database(), owner);
    const b = await newBatch(database(), owner);
    const c = await newBatch(database(), owner);
    await ingest(database(), a.id, ['m1']);
    await ingest(database(), b.id, ['m1', 'm2']);
    const first = await listBatches(database().db, { owner, limit: 2 });
    expect(first.data.map((x) => x.id)).toEqual([c.id, b.id]);
    expect(first.hasMore).toBe(true);
    const next = await listBatches(database().db, { owner, limit: 2, after: b.id });
    expect(next).toMatchObject({ hasMore: false });
    expect(next.data.map((x) => x.id)).toEqual([a.id]);
    expect((await listBatches(database().db, { owner, limit: 10, statuses: ['validating'] })).data.map((x) => x.id)).toEqual([c.id]);
    expect((await listBatches(database().db, { owner, limit: 10, model: 'm2' })).data.map((x) => x.id)).toEqual([b.id]);
    expect((await listBatches(database().db, { owner, limit: 10, model: 'm1' })).data.map((x) => x.id)).toEqual([b.id, a.id]);
  });

  it('estimates queue position and completion from recent throughput', async () => {
    const owner = newId('owner_');
    const model = newId('model_');
    const early = await newBatch(database(), owner);
    const urgent = await newBatch(database(), owner, { priority: 5 });
    const late = await newBatch(database(), owner);
    for (const batch of [early, urgent, late]) await ingest(database(), batch.id, [model, model]);
    let estimates = await batchEstimates(database().db, [early.id, urgent.id, late.id]);
    expect([early, urgent, late].map((x) => estimates.get(x.id)?.queuePosition)).toEqual([1, 0, 2]);
    expect(estimates.get(late.id)?.estimatedCompletionAtMs).toBeNull();
    await answer(database(), urgent.id, [1, 2], 'succeeded');
    // A worker of the model that stopped heartbeating long ago is no throughput.
    await addWorker(database(), model, { rate: 1, heartbeatAgo: '10 minutes' });
    estimates = await batchEstimates(database().db, [early.id, late.id]);
    expect(estimates.get(late.id)?.queuePosition).toBe(1);
    expect(estimates.get(late.id)?.estimatedCompletionAtMs).toBeNull();
    await addWorker(database(), model, { rate: 2 / 300, heartbeatAgo: '1 second' });
    estimates = await batchEstimates(database().db, [early.id, late.id]);
    // The live worker finishes 2 requests per 300 s; 4 requests to run before `late` is done.
    const eta = estimates.get(late.id)?.estimatedCompletionAtMs ?? 0;
    expect(eta - Date.now()).toBeGreaterThan(500_000);
    expect(eta - Date.now()).toBeLessThan(700_000);
  });

  it('retries only the failed and expired requests of a finished batch, in a new batch and file', async () => {
    const batch = await newBatch(database());
    await ingest(database(), batch.id, ['m1', 'm1', 'm2', 'm1']);
    const notYet = await retryBatch(database().db, {
      batchId: batch.id,
      owner: 'alice',
      newBatchId: newId('batch_'),
      newFileId: newId('file-'),
    });
    expect(notYet).toEqual({ kind: 'not_finished', status: 'in_progress' });
    await answer(database(), batch.id, [1], 'succeeded');
    await answer(database(), batch.id, [2], 'failed');
    await database().db.execute(sql`update batches set status = 'expired' where id = ${batch.id}`);
    await database().db.execute(sql`insert into results (batch_id, line, status, error)
      values (${batch.id}, 3, 'expired', '{"code":"batch_expired","message":"m"}'), (${batch.id}, 4, 'cancelled', '{"code":"batch_cancelled","message":"m"}')`);
    await database().db.execute(sql`update request_ranges set finished_at = now() where batch_id = ${batch.id} and finished_at is null`);
    const [newBatchId, newFileId] = [newId('batch_'), newId('file-')];
    expect(await retryBatch(database().db, { batchId: batch.id, owner: 'bob', newBatchId, newFileId })).toEqual({ kind: 'not_found' });
    const outcome = await retryBatch(database().db, { batchId: batch.id, owner: 'alice', newBatchId, newFileId });
    expect(outcome).toEqual({ kind: 'created', batchId: newBatchId, total: 2, models: ['m1', 'm2'] });
    const retried = await getBatch(database().db, newBatchId, 'alice');
    expect(retried).toMatchObject({
      status: 'in_progress',
      total: 2,
      retriedFrom: batch.id,
      inputFileId: newFileId,
      metadata: { project: 'x' },
    });
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of readFileChunks(database().db, newFileId)) text += decoder.decode(chunk);
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { custom_id: string; url: string; body: unknown });
    expect(lines.map((l) => l.custom_id)).toEqual(['c2', 'c3']);
    expect(text).toContain('"body":{"model": "m2", "seed": 12345678901234567890, "x": 1.0}}');
    const queued = await rows<{ line: number; custom_id: string }>(
      database().db,
      sql`select line, custom_id from request_states where batch_id = ${newBatchId} and status = 'queued' order by line`,
    );
    expect(queued).toEqual([
      { line: 1, custom_id: 'c2' },
      { line: 2, custom_id: 'c3' },
    ]);
  });

  it("sums up an owner's batches by status and model", async () => {
    const owner = newId('owner_');
    const a = await newBatch(database(), owner);
    const b = await newBatch(database(), owner);
    await newBatch(database(), owner);
    await ingest(database(), a.id, ['m1', 'm1']);
    await ingest(database(), b.id, ['m1', 'm2']);
    // Counted partly on the batch row (as the previous release counted) and partly on a range.
    await database().db.execute(sql`update batches set status = 'completed', completed = 1, prompt_tokens = 4,
      completed_at = created_at + interval '10 seconds' where id = ${a.id}`);
    await database().db.execute(sql`update request_ranges set failed = 1, prompt_tokens = 6, completion_tokens = 20, finished_at = now()
      where batch_id = ${a.id} and first_line = 2`);
    const stats = await batchStats(database().db, owner);
    expect(stats).toMatchObject({
      batches: 3,
      requests: 4,
      succeeded: 1,
      failed: 1,
      successRate: 0.5,
      promptTokens: 10,
      completionTokens: 20,
    });
    expect(stats.meanDurationSeconds).toBeCloseTo(10);
    expect(stats.byStatus).toEqual([
      { status: 'completed', batches: 1 },
      { status: 'in_progress', batches: 1 },
      { status: 'validating', batches: 1 },
    ]);
    expect(stats.byModel.map((m) => [m.model, m.batches])).toEqual([
      ['m1', 1],
      [null, 2],
    ]);
    expect((await batchStats(database().db, owner, Date.now() + 60_000)).batches).toBe(0);
  });
});

describe('COPY text fields', () => {
  it('escapes backslash, tab, newline and carriage return, and nothing else', () => {
    expect(copyText('plain "quoted" é ☃ 😀')).toBe('plain "quoted" é ☃ 😀');
    expect(copyText('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
    expect(copyText('\\N')).toBe('\\\\N');
    expect(copyText('')).toBe('');
  });
});
