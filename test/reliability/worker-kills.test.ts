import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { COMPLETED, FAILED, RANGE_SUMS, rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start, isAlive, type Running } from '../helpers/processes.ts';
import { FAST_WORKER_ENV, startSim } from '../fleet/helpers.ts';
import { clientOf, expectEachOnce, requestLines, startGateway, submitBatch, until, waitForStatus } from './harness.ts';

/** The pid of the worker the supervisor started last on each GPU, from its log. */
function currentWorkers(supervisor: Running): Map<string, number> {
  const pids = new Map<string, number>();
  for (const [, line] of supervisor.output().matchAll(/("msg":"worker started"[^\n]*)/g)) {
    const gpu = /"gpu":"([^"]+)"/.exec(line!)?.[1];
    const pid = /"pid":(\d+)/.exec(line!)?.[1];
    if (gpu && pid) pids.set(gpu, Number(pid));
  }
  return pids;
}

// A loaded machine runs these several times slower: generous limits, no timing assertions.
describe('workers killed with -9 at random points of a batch', { timeout: 120_000 }, () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  it('lose and duplicate nothing over three kills across two workers that the supervisor restarts', async () => {
    const { url, database } = test();
    const gateway = await startGateway(url);
    processes.push(gateway.process);
    // 16 slots, about 200 ms a request: 400 requests take some five seconds, long enough for three kills.
    const sim = await startSim(['--slots', '16', '--ttft-ms', '5', '--tpot-ms', '2', '--output-tokens', '100']);
    processes.push(sim.process);
    const supervisor = start(BUN, ['fleet/entry/supervisor.ts', '--gpus', '0,1', '--engine-url', `${sim.url},${sim.url}`], {
      env: { ...FAST_WORKER_ENV, DATABASE_URL: url },
    });
    processes.push(supervisor);
    await until(async () => (supervisor.output().match(/"msg":"worker ready"/g)?.length ?? 0) >= 2, 'two ready workers', 30_000);

    const client = clientOf(gateway.url);
    const { text, ids } = requestLines({ count: 400, model: 'sim-model', prefix: 'kill' });
    const { id } = await submitBatch(client, text);
    const finished = async () => {
      const [row] = await rows<{ n: number }>(
        database.db,
        sql`select ${COMPLETED} + ${FAILED} as n from batches b ${RANGE_SUMS} where b.id = ${id}`,
      );
      return row?.n ?? 0;
    };
    // Three kills at random points, each in its own stretch of the batch, on alternating GPUs.
    const killed: number[] = [];
    for (const [k, [from, to]] of [
      [0.05, 0.3],
      [0.35, 0.6],
      [0.65, 0.85],
    ].entries()) {
      const at = Math.floor(400 * (from! + Math.random() * (to! - from!)));
      const gpu = String(k % 2);
      const pid = await until(
        async () => {
          const current = currentWorkers(supervisor).get(gpu);
          return current !== undefined && !killed.includes(current) && isAlive(current) ? current : undefined;
        },
        `a live worker on GPU ${gpu}`,
        30_000,
      );
      await until(async () => (await finished()) >= at, `${at} results`, 60_000);
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    }

    const batch = await waitForStatus(client, id, ['completed'], 90_000);
    const { output, errors } = await expectEachOnce(client, batch, ids);
    expect(errors).toEqual([]);
    expect(output.every((l) => l.response?.status_code === 200)).toBe(true);
    expect(supervisor.output().match(/"msg":"restarting worker"/g)?.length).toBeGreaterThanOrEqual(3);
    // The killed workers held leases: their requests were taken again.
    const [retried] = await rows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from request_states where batch_id = ${id} and attempts > 1`,
    );
    expect(retried?.n).toBeGreaterThan(0);
    expect(await supervisor.stop('SIGTERM')).toBe(0);
  });
});
