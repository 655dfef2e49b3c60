import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPLETED, FAILED, RANGE_SUMS, rows } from '../../schema/index.ts';
import {
  answeredIds,
  eventually,
  expectedIds,
  FAST_WORKER_ENV,
  insertChatBatch,
  startSim,
  startWorker,
  waitForBatch,
  type Sim,
} from '../fleet/helpers.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start, type Running } from '../helpers/processes.ts';

const COUNT = 300;

describe('a worker on Deno next to a worker on Bun', () => {
  const test = useTestDatabase();
  const host = `runtimes-${randomBytes(3).toString('hex')}`;
  let sim: Sim;
  let fleet: Running;
  let bunWorker: Running;

  beforeAll(async () => {
    // 16 requests in flight per worker, about 85 ms each: one worker alone would need seconds, so both take part.
    sim = await startSim(['--tpot-ms', '5']);
    const env = { ...FAST_WORKER_ENV, DATABASE_URL: test().url, MAX_IN_FLIGHT: '16', INITIAL_IN_FLIGHT: '16' };
    // What `npm run fleet -- --runtime deno ...` runs, without npm between the test and the supervisor's signals.
    fleet = start(
      BUN,
      ['scripts/fleet.ts', '--runtime', 'deno', '--gpus', '0', '--engine-url', sim.url, '--model', 'sim-model', '--host', host],
      { env },
    );
    bunWorker = await startWorker({
      ...env,
      ENGINE_URL: sim.url,
      WORKER_MODEL: 'sim-model',
      WORKER_HOST: host,
      WORKER_GPU: '1',
      WORKER_ID: `${host}/gpu1/bun`,
    });
    await fleet.waitFor(/"msg":"worker ready"/, 60_000);
  });
  afterAll(async () => {
    await Promise.all([fleet?.stop(), bunWorker?.stop()]);
    await sim?.process.stop();
  });

  it('registers the supervisor-started worker as a deno worker', async () => {
    const workers = await rows<{ runtime: string; status: string }>(
      test().database.db,
      sql`select runtime, status from workers where host = ${host} order by gpu`,
    );
    expect(workers).toEqual([
      { runtime: 'deno', status: 'ready' },
      { runtime: 'bun', status: 'ready' },
    ]);
  });

  it('completes a batch through the simulator with every custom_id exactly once, both workers taking part', async () => {
    const batchId = await insertChatBatch(test().database, { count: COUNT });
    expect(await waitForBatch(test().database, batchId, ['completed', 'failed', 'expired'])).toBe('completed');
    expect(await answeredIds(test().database, batchId)).toEqual(expectedIds(COUNT));
    const [batch] = await rows<{ completed: number; failed: number }>(
      test().database.db,
      sql`select ${COMPLETED} as completed, ${FAILED} as failed from batches b ${RANGE_SUMS} where b.id = ${batchId}`,
    );
    expect(batch).toEqual({ completed: COUNT, failed: 0 });
    // The workers' rows carry their counters with each heartbeat.
    const done = await eventually(
      async () => {
        const counts = await rows<{ runtime: string; completed: number }>(
          test().database.db,
          sql`select runtime, completed::int as completed from workers where host = ${host} order by gpu`,
        );
        return counts.reduce((sum, w) => sum + w.completed, 0) === COUNT ? counts : null;
      },
      10_000,
      'the workers to report every completed request',
    );
    expect(done.map((w) => w.runtime)).toEqual(['deno', 'bun']);
    for (const worker of done) expect(worker.completed).toBeGreaterThan(0);
  });

  it('stops the Deno worker with the supervisor on SIGTERM', async () => {
    expect(await fleet.stop('SIGTERM')).toBe(0);
    const [deno] = await rows<{ status: string }>(
      test().database.db,
      sql`select status from workers where host = ${host} and runtime = 'deno'`,
    );
    expect(deno?.status).toBe('stopped');
  });
});
