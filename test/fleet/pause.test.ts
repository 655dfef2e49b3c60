import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import type { Running } from '../helpers/processes.ts';
import { answeredIds, eventually, expectedIds, insertChatBatch, simMetrics, startSim, startWorker, waitForBatch } from './helpers.ts';

describe('pausing a batch with work in flight', () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  let gateway: ReturnType<typeof createApp>;
  beforeAll(() => {
    gateway = createApp({ config: loadGatewayConfig({}), database: test().database, logger: createLogger({ level: 'silent' }) });
  });
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });
  afterAll(() => gateway?.close());

  const post = async (id: string, action: 'pause' | 'resume') => {
    const res = await gateway.request(`/v1/batches/${id}/${action}`, { method: 'POST' });
    expect(res.status).toBe(200);
    return (await res.json()) as { status: string; paused_at: number | null };
  };

  it('lets what is in flight finish and keeps it, leases nothing more while paused, and completes every line once after resume', async () => {
    const { database, url } = test();
    // About a second per request, four at a time: the batch takes ten seconds unpaused.
    const sim = await startSim(['--slots', '4', '--tpot-ms', '10', '--output-tokens', '100']);
    processes.push(sim.process);
    const count = 40;
    const batchId = await insertChatBatch(database, { count });
    processes.push(await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url, MAX_IN_FLIGHT: '4', LEASE_MAX: '4' }));
    await eventually(async () => (await simMetrics(sim.url)).requests >= 4, 30_000, 'the first requests at the engine');

    const paused = await post(batchId, 'pause');
    expect(paused).toMatchObject({ status: 'in_progress', paused_at: expect.any(Number) });

    // What the worker held when the pause came (in flight, or leased and waiting for a slot) runs to the end.
    const leased = async () =>
      (
        await rows<{ n: number }>(
          database.db,
          sql`select count(*)::int as n from request_ranges where batch_id = ${batchId} and lease_owner is not null and finished_at is null`,
        )
      )[0]?.n;
    await eventually(async () => (await leased()) === 0, 30_000, 'the leased requests of the paused batch to finish');
    const results = async () =>
      (await rows<{ n: number }>(database.db, sql`select count(*)::int as n from results where batch_id = ${batchId}`))[0]?.n ?? 0;
    const done = await results();
    const atEngine = (await simMetrics(sim.url)).requests;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(count);
    // Every request the engine was sent has its result kept.
    expect(atEngine).toBe(done);

    // Paused: the worker polls (every 250 ms) and is woken, yet takes nothing of it.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect((await simMetrics(sim.url)).requests).toBe(atEngine);
    expect(await leased()).toBe(0);
    expect(await results()).toBe(done);
    const [row] = await rows<{ status: string }>(database.db, sql`select status from batches where id = ${batchId}`);
    expect(row?.status).toBe('in_progress');

    expect(await post(batchId, 'resume')).toMatchObject({ paused_at: null });
    expect(await waitForBatch(database, batchId, ['completed'], 60_000)).toBe('completed');
    expect(await answeredIds(database, batchId)).toEqual(expectedIds(count));
    expect((await simMetrics(sim.url)).requests).toBe(count);
  });
});
