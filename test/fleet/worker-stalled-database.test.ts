import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createEngineClient } from '../../fleet/engine/client.ts';
import { createEngineGate } from '../../fleet/engine/gate.ts';
import { createCapacity } from '../../fleet/worker/capacity.ts';
import { createWorker } from '../../fleet/worker/worker.ts';
import { cancelBatch, reapLeases, rows, type Database } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { answeredIds, eventually, expectedIds, insertChatBatch, serveSimulator, useServedSimulator, waitForBatch } from './helpers.ts';

/** Holds a lock in its own transaction until `release` is called. */
function holdLock(database: Database, statement: ReturnType<typeof sql>) {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let taken = () => {};
  const held = new Promise<void>((resolve) => (taken = resolve));
  const done = database.db.transaction(async (tx) => {
    await tx.execute(statement);
    taken();
    await released;
  });
  return { held, release: async () => (release(), await done) };
}

const leasedBy = async (database: Database, owner: string) =>
  (
    await rows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from request_states where lease_owner = ${owner} and status = 'leased'`,
    )
  )[0]?.n ?? 0;

const someoneWaits = async (database: Database) =>
  ((
    await rows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
    )
  )[0]?.n ?? 0) > 0;

describe('the worker loop when the database stalls (Postgres, in-process)', () => {
  const test = useTestDatabase();
  const { watchdog, url: simUrl } = useServedSimulator({
    models: ['sim-model', 'drain-model'],
    slots: 32,
    ttftMs: 1,
    tpotMs: 1,
    outputTokens: 8,
  });

  const makeWorker = (id: string, model: string, engineUrl = simUrl(), leaseMs = 60_000, heartbeatMs = 200) => {
    const client = createEngineClient({
      baseUrl: engineUrl,
      watchdog,
      connectTimeoutMs: 5000,
      firstTokenTimeoutMs: 5000,
      stallTimeoutMs: 5000,
    });
    return createWorker({
      id,
      database: test().database,
      bus: createMemoryBus(),
      logger: createLogger({ level: 'silent' }),
      client,
      gate: createEngineGate({ health: () => client.health(), probeMs: 50 }),
      capacity: createCapacity({ initial: 16, max: 16 }),
      models: () => [model],
      timings: { leaseMs, heartbeatMs, pollMs: 50, flushMs: 20, loadPollMs: 100 },
      flushMax: 16,
      leaseMax: 64,
      maxRetries: 2,
      backoff: { baseMs: 5, maxMs: 20 },
      maxAttempts: 3,
    });
  };

  it('gives back on drain what a lease round still in flight leased, instead of leaving it to expire', async () => {
    const { database } = test();
    const batchId = await insertChatBatch(database, { count: 40, model: 'drain-model' });
    // The lease round waits for the batches table (its statement ranks batches, then the worker reads
    // their endpoints): drain comes meanwhile, and the round leases after it began.
    const lock = holdLock(database, sql`lock table batches in access exclusive mode`);
    await lock.held;
    const worker = makeWorker('drain-racer', 'drain-model');
    worker.start();
    try {
      await eventually(() => someoneWaits(database), 10_000, 'a lease round waiting');
    } finally {
      const drained = worker.drain(10_000);
      await lock.release();
      await drained;
    }
    expect(await leasedBy(database, 'drain-racer')).toBe(0);
    const left = await rows<{ status: string; attempts: number; n: number }>(
      database.db,
      sql`select status, attempts, count(*)::int as n from request_states where batch_id = ${batchId} group by 1, 2`,
    );
    expect(left).toEqual([{ status: 'queued', attempts: 0, n: 40 }]);
  });

  it('stops leasing while its results cannot be written, and writes them all once the database answers', async () => {
    const { database } = test();
    const batchId = await insertChatBatch(database, { count: 600 });
    // With the results table locked against writes, result writes wait; leases, which only read it, do not.
    const lock = holdLock(database, sql`lock table results in exclusive mode`);
    await lock.held;
    const worker = makeWorker('slow-writes', 'sim-model');
    worker.start();
    try {
      let last = -1;
      await eventually(
        async () => {
          const { unwritten, inFlight, buffered } = worker.stats();
          const steady = inFlight === 0 && buffered === 0 && unwritten > 0 && unwritten === last;
          last = unwritten;
          if (!steady) await new Promise((r) => setTimeout(r, 300));
          return steady;
        },
        20_000,
        'the worker to stop',
      );
      // At most 16 in flight, 128 prefetched, two pages of 16 unwritten results, and a lease round
      // under way (a lease never brings more than asked for): 178, far from the 600 queued.
      expect(worker.stats()).toMatchObject({ completed: 0 });
      expect(worker.stats().unwritten).toBeLessThanOrEqual(178);
      expect(await leasedBy(database, 'slow-writes')).toBeLessThanOrEqual(178);
      await lock.release();
      expect(await waitForBatch(database, batchId, ['completed'], 30_000)).toBe('completed');
    } finally {
      await lock.release();
      await worker.drain(1000);
    }
    expect(await answeredIds(database, batchId)).toEqual(expectedIds(600));
  });

  it('lets the stream it runs answer a request whose lease was reaped and that it leased again, instead of running it twice', async () => {
    const { database } = test();
    const engine = await serveSimulator({ models: ['slow-model'], slots: 4, ttftMs: 1, tpotMs: 20, outputTokens: 60 });
    const slow = engine.sim;
    const batchId = await insertChatBatch(database, { count: 1, model: 'slow-model' });
    const worker = makeWorker('cut-off', 'slow-model', engine.url);
    worker.start();
    try {
      await eventually(async () => slow.counters().running === 1, 10_000, 'the stream to run');
      // As when the worker was cut off from Postgres past its lease: another process reaps the lease,
      // and this worker, back, leases the request again while its stream still runs.
      await database.db.execute(sql`update request_ranges set lease_expires_at = now() - interval '1 second' where batch_id = ${batchId}`);
      expect(await reapLeases(database.db, { maxAttempts: 5 })).toHaveLength(1);
      worker.nudge('slow-model');
      await eventually(async () => (await leasedBy(database, 'cut-off')) === 1, 10_000, 'the request leased again');
      expect(await waitForBatch(database, batchId, ['completed'], 30_000)).toBe('completed');
      expect(slow.counters().requests).toBe(1);
      expect(worker.stats()).toMatchObject({ inFlight: 0, completed: 1 });
    } finally {
      await worker.drain(1000);
      await engine.close();
    }
    expect(await answeredIds(database, batchId)).toEqual(['req-1']);
  });

  it('aborts the streams of a batch cancelled while a heartbeat was under way, without waiting for the next beat', async () => {
    const { database } = test();
    const engine = await serveSimulator({ models: ['cancel-model'], slots: 4, ttftMs: 1, tpotMs: 20, outputTokens: 5000 });
    const slow = engine.sim;
    const batchId = await insertChatBatch(database, { count: 1, model: 'cancel-model' });
    // No beat on the timer for as long as the test runs: only heartbeatNow (the cancel NOTIFY) beats.
    const worker = makeWorker('cancel-during-beat', 'cancel-model', engine.url, 60_000, 3_600_000);
    worker.start();
    let lock: ReturnType<typeof holdLock> | undefined;
    try {
      await eventually(async () => slow.counters().running === 1, 10_000, 'the stream to run');
      // A beat under way: its statement waits for the range, having read the batch as it was before the cancel.
      lock = holdLock(database, sql`select id from request_ranges where batch_id = ${batchId} for update`);
      await lock.held;
      worker.heartbeatNow();
      await eventually(() => someoneWaits(database), 10_000, 'the beat to wait');
      expect((await cancelBatch(database.db, batchId, 'local')).kind).toBe('cancelling');
      worker.heartbeatNow();
      await lock.release();
      await eventually(async () => slow.counters().running === 0, 10_000, 'the stream of the cancelled batch aborted');
      expect(await waitForBatch(database, batchId, ['cancelled'], 10_000)).toBe('cancelled');
    } finally {
      await lock?.release();
      await worker.drain(200);
      await engine.close();
    }
  });

  it('keeps extending its other leases while settling a cancelled batch waits for the database', async () => {
    const { database } = test();
    const engine = await serveSimulator({ models: ['long-model'], slots: 16, ttftMs: 1, tpotMs: 20, outputTokens: 400 });
    const slow = engine.sim;
    const cancelled = await insertChatBatch(database, { count: 4, model: 'long-model' });
    const running = await insertChatBatch(database, { count: 4, model: 'long-model' });
    const worker = makeWorker('settler', 'long-model', engine.url, 1000);
    worker.start();
    let lock: ReturnType<typeof holdLock> | undefined;
    try {
      await eventually(async () => slow.counters().running === 8, 10_000, 'both batches streaming');
      expect((await cancelBatch(database.db, cancelled, 'local')).kind).toBe('cancelling');
      // Finalizing the cancelled batch waits for its row: the settle after the heartbeat's stop is slow.
      lock = holdLock(database, sql`select id from batches where id = ${cancelled} for update`);
      await lock.held;
      worker.heartbeatNow();
      await eventually(() => someoneWaits(database), 10_000, 'the settle to wait');
      await new Promise((r) => setTimeout(r, 3000));
      const [expired] = await rows<{ n: number }>(
        database.db,
        sql`select count(*)::int as n from request_states where batch_id = ${running} and status = 'leased' and lease_expires_at < now()`,
      );
      expect(expired?.n).toBe(0);
      await lock.release();
      expect(await waitForBatch(database, cancelled, ['cancelled'], 10_000)).toBe('cancelled');
    } finally {
      await lock?.release();
      await worker.drain(200);
      await engine.close();
    }
  });
});
