import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
  completeRequests,
  heartbeatLeases,
  leaseRequests,
  markLostWorkers,
  modelDemand,
  reapLeases,
  registerWorker,
  releaseRequests,
  rows,
  stopRequests,
  workersOnGpu,
  type Database,
  type LeasedRequest,
  type RequestResult,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { expireLeases, insertBatch, statuses, succeededResult } from '../queue/batch-fixtures.ts';

const ok = (r: LeasedRequest, tokens = 5): RequestResult => succeededResult(r, { completionTokens: tokens });

const bad = (r: LeasedRequest): RequestResult => ({
  ...ok(r),
  status: 'failed',
  statusCode: 400,
  response: '{"error":{"message":"bad"}}',
  completionTokens: 0,
});

const ranges = (database: Database, batchId: string) =>
  rows<{ lines: string; size: number; attempts: number; succeeded: number; failed: number; leased: boolean; finished: boolean }>(
    database.db,
    sql`select first_line || '-' || last_line as lines, size, attempts, succeeded, failed,
               lease_owner is not null as leased, finished_at is not null as finished
        from request_ranges where batch_id = ${batchId} order by first_line, id`,
  );

describe.each(DRIVERS)('the fleet queue statements on %s', (driver) => {
  const database = useDriverDatabase(driver);
  const lease = (owner: string, model: string, limit = 100) => leaseRequests(database().db, { owner, model, limit, leaseMs: 60_000 });

  it('writes results only under the range lease and returns the summed batch counters', async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 3, model: 'm-complete', rangeLines: 3 });
    const [a, b, c] = (await lease('w1', 'm-complete')) as [LeasedRequest, LeasedRequest, LeasedRequest];
    const counters = await completeRequests(db, 'w1', [ok(a, 7), bad(b)]);
    expect(counters).toEqual([
      {
        batchId,
        owner: 'local',
        status: 'in_progress',
        total: 3,
        completed: 1,
        failed: 1,
        promptTokens: 6,
        completionTokens: 7,
        written: 2,
        writtenFailed: 1,
        overBudget: false,
      },
    ]);
    expect(await completeRequests(db, 'someone-else', [ok(c)])).toEqual([]);
    // The same result again (a retried page) is neither stored nor counted twice.
    expect(await completeRequests(db, 'w1', [ok(a, 7)])).toEqual([]);
    expect(await statuses(database(), batchId)).toEqual([
      { status: 'failed', n: 1 },
      { status: 'leased', n: 1 },
      { status: 'succeeded', n: 1 },
    ]);
    expect(await ranges(database(), batchId)).toEqual([
      { lines: '1-3', size: 3, attempts: 1, succeeded: 1, failed: 1, leased: true, finished: false },
    ]);
  });

  it("finishes a range once every line has a result, and sums the counters of all its batch's ranges", async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 4, model: 'm-finish', rangeLines: 2 });
    const first = await lease('w1', 'm-finish', 2);
    const second = await lease('w2', 'm-finish', 2);
    expect(
      await completeRequests(
        db,
        'w1',
        first.map((r) => ok(r, 1)),
      ),
    ).toMatchObject([{ completed: 2, written: 2 }]);
    const [counters] = await completeRequests(
      db,
      'w2',
      second.map((r) => ok(r, 10)),
    );
    expect(counters).toMatchObject({ total: 4, completed: 4, failed: 0, promptTokens: 12, completionTokens: 22, written: 2 });
    expect(await ranges(database(), batchId)).toEqual([
      { lines: '1-2', size: 2, attempts: 1, succeeded: 2, failed: 0, leased: false, finished: true },
      { lines: '3-4', size: 2, attempts: 1, succeeded: 2, failed: 0, leased: false, finished: true },
    ]);
    const [result] = await rows<{ attempts: number; started: boolean }>(
      db,
      sql`select attempts, started_at is not null as started from results where batch_id = ${batchId} and line = 1`,
    );
    expect(result).toEqual({ attempts: 1, started: true });
  });

  it('lets no worker whose range was reaped write, and gives the next worker only the lines without results', async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 3, model: 'm-lost', rangeLines: 3 });
    const slow = await lease('slow', 'm-lost');
    await completeRequests(db, 'slow', [ok(slow[0]!)]);
    await expireLeases(database(), 'slow');
    expect(await reapLeases(db, { maxAttempts: 5 })).toEqual([{ batchId, model: 'm-lost', status: 'queued', n: 2 }]);
    const fast = await lease('fast', 'm-lost');
    expect(fast.map((r) => [r.line, r.attempts])).toEqual([
      [2, 2],
      [3, 2],
    ]);
    expect(await completeRequests(db, 'slow', [ok(slow[1]!)])).toEqual([]);
    const [counters] = await completeRequests(
      db,
      'fast',
      fast.map((r) => ok(r)),
    );
    expect(counters).toMatchObject({ completed: 3, failed: 0, total: 3, written: 2 });
    expect(await statuses(database(), batchId)).toEqual([{ status: 'succeeded', n: 3 }]);
  });

  it('splits a range lost twice into single lines, so the line that kills workers fails alone', async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 4, model: 'm-poison', rangeLines: 4 });
    const poison = 3;
    for (let attempt = 1; attempt <= 2; attempt++) {
      const leased = await lease(`crashy-${attempt}`, 'm-poison');
      // Each worker answers the lines before the poisonous one, then dies on it.
      await completeRequests(
        db,
        `crashy-${attempt}`,
        leased.filter((r) => r.line < poison).map((r) => ok(r)),
      );
      await expireLeases(database(), `crashy-${attempt}`);
      await reapLeases(db, { maxAttempts: 3 });
    }
    expect(await ranges(database(), batchId)).toEqual([
      { lines: '1-4', size: 2, attempts: 2, succeeded: 2, failed: 0, leased: false, finished: true },
      { lines: '3-3', size: 1, attempts: 1, succeeded: 0, failed: 0, leased: false, finished: false },
      { lines: '4-4', size: 1, attempts: 1, succeeded: 0, failed: 0, leased: false, finished: false },
    ]);
    for (let attempt = 3; attempt <= 4; attempt++) {
      for (const r of await lease(`crashy-${attempt}`, 'm-poison')) {
        if (r.line !== poison) await completeRequests(db, `crashy-${attempt}`, [ok(r)]);
      }
      await expireLeases(database(), `crashy-${attempt}`);
      await reapLeases(db, { maxAttempts: 3 });
    }
    expect(await statuses(database(), batchId)).toEqual([
      { status: 'failed', n: 1 },
      { status: 'succeeded', n: 3 },
    ]);
    const [failure] = await rows<{ line: number; error: { code: string; message: string } }>(
      db,
      sql`select line, error from results where batch_id = ${batchId} and status = 'failed'`,
    );
    expect(failure?.line).toBe(poison);
    expect(failure?.error.code).toBe('too_many_attempts');
    expect(failure?.error.message).toContain('leased 3 times');
    const [batch] = await rows<{ failed: number; done: boolean }>(
      db,
      sql`select (select sum(failed)::int from request_ranges where batch_id = ${batchId}) as failed,
                 not exists (select 1 from request_ranges where batch_id = ${batchId} and finished_at is null) as done`,
    );
    expect(batch).toEqual({ failed: 1, done: true });
  });

  it('extends range leases, flags the ones whose batch is cancelling, and leaves out lost ones', async () => {
    const db = database().db;
    const keep = await insertBatch(database(), { count: 1, model: 'm-hb' });
    const cancel = await insertBatch(database(), { count: 2, model: 'm-hb', rangeLines: 2 });
    const leased = await lease('hb', 'm-hb');
    const rangeIds = [...new Set(leased.map((r) => r.rangeId))];
    expect(rangeIds).toHaveLength(2);
    await db.execute(sql`update request_ranges set lease_expires_at = now() + interval '1 second' where lease_owner = 'hb'`);
    await db.execute(sql`update batches set status = 'cancelling' where id = ${cancel}`);
    const held = await heartbeatLeases(db, { owner: 'hb', leaseMs: 60_000, ids: [...rangeIds, 999_999] });
    expect(held.map((h) => h.stop).sort()).toEqual(['cancelled', null]);
    expect(await heartbeatLeases(db, { owner: 'not-hb', leaseMs: 60_000, ids: rangeIds })).toEqual([]);
    const [left] = await rows<{ ms: number }>(
      db,
      sql`select min(extract(epoch from lease_expires_at - now()) * 1000)::float8 as ms from request_ranges where lease_owner = 'hb'`,
    );
    expect(left!.ms).toBeGreaterThan(30_000);

    const stopping = held.filter((h) => h.stop === 'cancelled').map((h) => h.id);
    expect(await stopRequests(db, 'hb', stopping)).toEqual([cancel]);
    // Back in the queue unleased, for settle to write its lines' cancelled results; no lease takes it.
    expect(await statuses(database(), cancel)).toEqual([{ status: 'queued', n: 2 }]);
    expect(await ranges(database(), cancel)).toEqual([
      { lines: '1-2', size: 2, attempts: 1, succeeded: 0, failed: 0, leased: false, finished: false },
    ]);
    expect(await lease('another', 'm-hb')).toEqual([]);
    expect(await statuses(database(), keep)).toEqual([{ status: 'leased', n: 1 }]);
    expect((await heartbeatLeases(db, { owner: 'hb', leaseMs: 60_000, ids: rangeIds })).map((h) => h.id)).toEqual(
      rangeIds.filter((id) => !stopping.includes(id)),
    );
  });

  it('leaves a range of another batch with its worker when asked to stop it', async () => {
    const db = database().db;
    await insertBatch(database(), { count: 1, model: 'm-nostop' });
    const [leased] = await lease('steady', 'm-nostop');
    expect(await stopRequests(db, 'steady', [leased!.rangeId])).toEqual([]);
    expect(await heartbeatLeases(db, { owner: 'steady', leaseMs: 60_000, ids: [leased!.rangeId] })).toEqual([
      { id: leased!.rangeId, stop: null },
    ]);
  });

  it('returns a reaped range of a stopping batch unleased, as cancelled', async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 2, model: 'm-reap-cancel', rangeLines: 2 });
    await lease('gone', 'm-reap-cancel');
    await db.execute(sql`update batches set status = 'cancelling' where id = ${batchId}`);
    await expireLeases(database(), 'gone');
    expect(await reapLeases(db, { maxAttempts: 1 })).toEqual([{ batchId, model: 'm-reap-cancel', status: 'cancelled', n: 2 }]);
    expect(await ranges(database(), batchId)).toEqual([
      { lines: '1-2', size: 2, attempts: 1, succeeded: 0, failed: 0, leased: false, finished: false },
    ]);
  });

  it("releases a draining worker's ranges with the attempt refunded, never failing them", async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 2, model: 'm-release' });
    await lease('drainer', 'm-release');
    expect(await releaseRequests(db, { owner: 'drainer', refundAttempt: true, maxAttempts: 1 })).toEqual([
      { batchId, model: 'm-release', status: 'queued', n: 2 },
    ]);
    expect((await ranges(database(), batchId)).map((r) => [r.attempts, r.leased, r.finished])).toEqual([
      [0, false, false],
      [0, false, false],
    ]);
  });

  it("releases only the named ranges, and counts a dead predecessor's like reaped ones", async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 3, model: 'm-release-some' });
    const leased = await lease('predecessor', 'm-release-some');
    expect(await releaseRequests(db, { owner: 'predecessor', ids: [leased[0]!.rangeId], refundAttempt: false, maxAttempts: 1 })).toEqual([
      { batchId, model: 'm-release-some', status: 'failed', n: 1 },
    ]);
    expect(await statuses(database(), batchId)).toEqual([
      { status: 'failed', n: 1 },
      { status: 'leased', n: 2 },
    ]);
  });

  it('registers workers, finds a dead predecessor on the same GPU, and marks silent ones lost', async () => {
    const db = database().db;
    const base = { host: 'h1', gpu: '0', runtime: 'bun', model: 'm', engineUrl: 'http://e', status: 'ready' };
    await registerWorker(db, { ...base, id: 'old', pid: 111 });
    await registerWorker(db, { ...base, id: 'new', pid: 222 });
    expect(await workersOnGpu(db, { host: 'h1', gpu: '0', except: 'new' })).toEqual([{ id: 'old', pid: 111 }]);
    await db.execute(sql`update workers set heartbeat_at = now() - interval '1 minute' where id = 'old'`);
    expect(await markLostWorkers(db, { staleMs: 10_000 })).toEqual([{ id: 'old', host: 'h1', gpu: '0', model: 'm' }]);
    expect(await markLostWorkers(db, { staleMs: 10_000 })).toEqual([]);
  });

  it("reports each enabled model's queue and the workers serving it", async () => {
    const db = database().db;
    await db.execute(sql`insert into models (name, source) values ('demand-a', 'org/a'), ('demand-b', 'org/b')`);
    await db.execute(sql`insert into models (name, source, enabled) values ('demand-off', 'org/off', false)`);
    await insertBatch(database(), { count: 4, model: 'demand-b' });
    await registerWorker(db, {
      id: 'serving-a',
      host: 'h2',
      gpu: '0',
      pid: 1,
      runtime: 'bun',
      model: 'demand-a',
      engineUrl: 'http://e',
      status: 'ready',
    });
    const demand = await modelDemand(db, { except: 'me', liveMs: 15_000 });
    expect(demand.map(({ name, queued, servingWorkers }) => ({ name, queued, servingWorkers }))).toEqual([
      { name: 'demand-a', queued: 0, servingWorkers: 1 },
      { name: 'demand-b', queued: 4, servingWorkers: 0 },
    ]);
  });
});
