import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { COMPLETED, FAILED, RANGE_SUMS, rows, type Database } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start, type Running } from '../helpers/processes.ts';
import { answeredIds, eventually, expectedIds, FAST_WORKER_ENV, insertChatBatch, startSim, startWorker, waitForBatch } from './helpers.ts';

const finished = async (database: Database, batchId: string) => {
  const [row] = await rows<{ n: number }>(
    database.db,
    sql`select ${COMPLETED} + ${FAILED} as n from batches b ${RANGE_SUMS} where b.id = ${batchId}`,
  );
  return row?.n ?? 0;
};

const retried = async (database: Database, batchId: string) => {
  const [row] = await rows<{ n: number }>(
    database.db,
    sql`select count(*)::int as n from request_states where batch_id = ${batchId} and attempts > 1`,
  );
  return row?.n ?? 0;
};

describe('recovering from dead workers', () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  it('loses and duplicates nothing when a worker is killed with -9 mid-batch', async () => {
    const { database, url } = test();
    const sim = await startSim(['--slots', '64', '--tpot-ms', '3', '--output-tokens', '30']);
    processes.push(sim.process);
    const batchId = await insertChatBatch(database, { count: 1200 });
    const victim = await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url, WORKER_ID: 'victim' });
    processes.push(victim);
    await eventually(async () => (await finished(database, batchId)) >= 100, 30_000, '100 results');
    victim.child.kill('SIGKILL');
    const [held] = await rows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from request_states where lease_owner = 'victim' and status = 'leased'`,
    );
    expect(held?.n).toBeGreaterThan(0);
    processes.push(await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url, WORKER_ID: 'survivor', WORKER_GPU: '1' }));
    expect(await waitForBatch(database, batchId, ['completed'], 60_000)).toBe('completed');
    expect(await answeredIds(database, batchId)).toEqual(expectedIds(1200));
    expect(await retried(database, batchId)).toBeGreaterThan(0);
  });

  it('restarts a killed worker under the supervisor, which returns its leases at once', async () => {
    const { database, url } = test();
    const sim = await startSim(['--slots', '64', '--tpot-ms', '3', '--output-tokens', '30']);
    processes.push(sim.process);
    const batchId = await insertChatBatch(database, { count: 1000 });
    // Long leases: only the supervisor's immediate release can bring the killed worker's requests back in time.
    const supervisor = start(BUN, ['fleet/entry/supervisor.ts', '--gpus', '0', '--engine-url', sim.url], {
      env: { ...FAST_WORKER_ENV, LEASE_TTL_MS: '600000', DATABASE_URL: url },
    });
    processes.push(supervisor);
    await eventually(async () => (await finished(database, batchId)) >= 100, 30_000, '100 results');
    const [, pid] = (await supervisor.waitFor(/"msg":"worker started"[^\n]*"pid":(\d+)/)) as unknown as [string, string];
    process.kill(Number(pid), 'SIGKILL');
    await supervisor.waitFor(/"msg":"restarting worker"/);
    expect(await waitForBatch(database, batchId, ['completed'], 60_000)).toBe('completed');
    expect(await answeredIds(database, batchId)).toEqual(expectedIds(1000));
    expect(await retried(database, batchId)).toBeGreaterThan(0);
    expect(supervisor.output()).toContain("returned the dead worker's leases to the queue");
    expect(await supervisor.stop('SIGTERM')).toBe(0);
  });

  it('drains on SIGTERM: stops leasing, gives back unfinished work with the attempt refunded, and exits cleanly', async () => {
    const { database, url } = test();
    const sim = await startSim(['--slots', '16', '--tpot-ms', '20', '--output-tokens', '400']);
    processes.push(sim.process);
    const batchId = await insertChatBatch(database, { count: 100 });
    const worker = await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url, WORKER_ID: 'drainer', DRAIN_TIMEOUT_MS: '200' });
    processes.push(worker);
    await eventually(
      async () =>
        (
          await rows<{ n: number }>(
            database.db,
            sql`select count(*)::int as n from request_states where batch_id = ${batchId} and status = 'leased'`,
          )
        )[0]?.n,
      10_000,
      'leases',
    );
    const code = await worker.stop('SIGTERM');
    expect(code, worker.output()).toBe(0);
    const left = await rows<{ status: string; attempts: number; n: number }>(
      database.db,
      sql`select status, attempts, count(*)::int as n from request_states where batch_id = ${batchId} group by 1, 2 order by 1, 2`,
    );
    expect(left.filter((r) => r.status === 'leased')).toEqual([]);
    expect(left.filter((r) => r.status === 'queued').every((r) => r.attempts === 0)).toBe(true);
    const [row] = await rows<{ status: string }>(database.db, sql`select status from workers where id = 'drainer'`);
    expect(row?.status).toBe('stopped');
  });
});
