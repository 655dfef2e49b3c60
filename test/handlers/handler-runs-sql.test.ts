import { sql } from 'drizzle-orm';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  extendHandlerRuns,
  failHandlerRun,
  finishHandlerRun,
  leaseHandlerRuns,
  listHandlerRuns,
  reapHandlerRuns,
  retryHandlerRun,
  rows,
  saveHandlerCheckpoint,
  type Database,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { finishedBatch, runsOf } from './support/batches.ts';

const BACKOFF = { baseMs: 60_000, maxMs: 600_000 };
const lease = async (database: Database, owner: string, handlers = ['alpha', 'beta'], leaseMs = 30_000) =>
  (await leaseHandlerRuns(database.db, { owner, handlers, limit: 10, leaseMs })).sort((a, b) => a.handler.localeCompare(b.handler));
const expireLeases = (database: Database) =>
  database.db.execute(sql`update handler_runs set lease_expires_at = now() - interval '1 second' where status = 'running'`);

describe.each(DRIVERS)('handler run statements on %s', (driver) => {
  const database = useDriverDatabase(driver);
  beforeEach(async () => {
    await database().db.execute(sql`delete from handler_runs`);
  });

  it('finalizing a batch creates one queued run per handler, which one process leases', async () => {
    const batchId = await finishedBatch(database(), { handlers: { alpha: {}, beta: { x: 1 } } });
    expect((await runsOf(database(), batchId)).map((r) => [r.handler, r.event, r.status])).toEqual([
      ['alpha', 'completed', 'queued'],
      ['beta', 'completed', 'queued'],
    ]);
    const first = await lease(database(), 'w1');
    const second = await lease(database(), 'w2');
    expect(first.map((r) => [r.handler, r.attempts, r.checkpoint])).toEqual([
      ['alpha', 1, null],
      ['beta', 1, null],
    ]);
    expect(second).toEqual([]);
    for (const run of first)
      expect(await finishHandlerRun(database().db, { id: run.id, owner: 'w1', status: 'succeeded', result: { ok: true } })).toBe(true);
  });

  it('leases only the handlers the process has installed', async () => {
    const batchId = await finishedBatch(database(), { handlers: { alpha: {}, gamma: {} } });
    const leased = await lease(database(), 'w1', ['alpha']);
    expect(leased.map((r) => r.handler)).toEqual(['alpha']);
    expect((await runsOf(database(), batchId)).find((r) => r.handler === 'gamma')?.status).toBe('queued');
    await finishHandlerRun(database().db, { id: leased[0]!.id, owner: 'w1', status: 'succeeded' });
    await database().db.execute(sql`delete from handler_runs where handler = 'gamma'`);
  });

  it('takes back a run whose process died once its lease expires, saying so', async () => {
    const batchId = await finishedBatch(database(), { handlers: { alpha: {} } });
    const [run] = await lease(database(), 'dead-process');
    await saveHandlerCheckpoint(database().db, { id: run!.id, owner: 'dead-process', checkpoint: { imported: 200 } });
    expect(await lease(database(), 'w2')).toEqual([]);
    await expireLeases(database());
    const [again] = await lease(database(), 'w2');
    expect(again).toMatchObject({ id: run!.id, attempts: 2, checkpoint: '{"imported": 200}' });
    expect((await runsOf(database(), batchId))[0]?.last_error).toBe(
      'attempt 1 did not finish: the process running it stopped (its lease expired)',
    );
    expect(await finishHandlerRun(database().db, { id: run!.id, owner: 'dead-process', status: 'succeeded' })).toBe(false);
    expect(await saveHandlerCheckpoint(database().db, { id: run!.id, owner: 'dead-process', checkpoint: 1 })).toBe(false);
    expect(await extendHandlerRuns(database().db, { owner: 'dead-process', ids: [run!.id], leaseMs: 1000 })).toEqual([]);
    expect(await extendHandlerRuns(database().db, { owner: 'w2', ids: [run!.id], leaseMs: 1000 })).toEqual([run!.id]);
    await finishHandlerRun(database().db, { id: run!.id, owner: 'w2', status: 'succeeded' });
  });

  it('queues a failed attempt with backoff, and ends it dead when attempts are used up or the failure is permanent', async () => {
    const batchId = await finishedBatch(database(), { handlers: { alpha: {}, beta: {} } });
    await database().db.execute(sql`update handler_runs set max_attempts = 2 where batch_id = ${batchId}`);
    const [alpha, beta] = await lease(database(), 'w1');
    expect(
      await failHandlerRun(database().db, { id: alpha!.id, owner: 'w1', error: 'boom 1', retryable: true, backoff: BACKOFF }),
    ).toMatchObject({ status: 'queued' });
    expect(
      await failHandlerRun(database().db, { id: beta!.id, owner: 'w1', error: '404 from receiver', retryable: false, backoff: BACKOFF }),
    ).toMatchObject({ status: 'dead' });
    const [wait] = await rows<{ seconds: number }>(
      database().db,
      sql`select extract(epoch from next_attempt_at - now())::float8 as seconds from handler_runs where id = ${alpha!.id}`,
    );
    // base 60 s with ±25% jitter
    expect(wait!.seconds).toBeGreaterThan(40);
    expect(wait!.seconds).toBeLessThan(80);
    expect(await lease(database(), 'w1')).toEqual([]);
    await database().db.execute(sql`update handler_runs set next_attempt_at = now() where id = ${alpha!.id}`);
    const [second] = await lease(database(), 'w1');
    expect(second?.attempts).toBe(2);
    expect(
      await failHandlerRun(database().db, { id: alpha!.id, owner: 'w1', error: 'boom 2', retryable: true, backoff: BACKOFF }),
    ).toMatchObject({ status: 'dead' });
    expect((await runsOf(database(), batchId)).map((r) => [r.status, r.attempts, r.last_error])).toEqual([
      ['dead', 2, 'boom 2'],
      ['dead', 1, '404 from receiver'],
    ]);
  });

  it('ends dead a run whose last attempt died with its process', async () => {
    const batchId = await finishedBatch(database(), { handlers: { alpha: {} } });
    await database().db.execute(sql`update handler_runs set max_attempts = 1 where batch_id = ${batchId}`);
    const [run] = await lease(database(), 'dead-process');
    await expireLeases(database());
    expect(await lease(database(), 'w2')).toEqual([]);
    expect(await reapHandlerRuns(database().db)).toEqual([run!.id]);
    expect((await runsOf(database(), batchId))[0]).toMatchObject({
      status: 'dead',
      last_error: 'attempt 1 of 1 did not finish: the process running it stopped (its lease expired)',
    });
  });

  it('re-queues a dead run of the caller with fresh attempts, and nothing else', async () => {
    const batchId = await finishedBatch(database(), { handlers: { alpha: {} }, owner: 'alice' });
    const [run] = await lease(database(), 'w1');
    await failHandlerRun(database().db, { id: run!.id, owner: 'w1', error: 'gone', retryable: false, backoff: BACKOFF });
    expect(await retryHandlerRun(database().db, { id: run!.id, owner: 'mallory' })).toBeUndefined();
    const retried = await retryHandlerRun(database().db, { id: run!.id, owner: 'alice' });
    expect(retried).toMatchObject({ requeued: true, run: { status: 'queued', attempts: 0, lastError: 'gone', finishedAtMs: null } });
    expect(await retryHandlerRun(database().db, { id: run!.id, owner: 'alice' })).toMatchObject({
      requeued: false,
      run: { status: 'queued' },
    });
    const [listed] = await listHandlerRuns(database().db, [batchId]);
    expect(listed).toMatchObject({ batchId, handler: 'alpha', event: 'completed', status: 'queued', maxAttempts: 5 });
    expect(typeof listed?.createdAtMs).toBe('number');
  });

  it("leaves a dead run dead once the expiry sweep has purged its batch's results", async () => {
    const batchId = await finishedBatch(database(), { handlers: { alpha: {} }, owner: 'alice' });
    const [run] = await lease(database(), 'w1');
    await failHandlerRun(database().db, { id: run!.id, owner: 'w1', error: 'gone', retryable: false, backoff: BACKOFF });
    await database().db.execute(sql`update batches set results_purged_at = now() where id = ${batchId}`);
    expect(await retryHandlerRun(database().db, { id: run!.id, owner: 'alice' })).toMatchObject({
      requeued: false,
      resultsPurged: true,
      run: { status: 'dead' },
    });
    expect((await runsOf(database(), batchId))[0]).toMatchObject({ status: 'dead' });
  });
});
