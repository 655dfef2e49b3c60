import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import type { Running } from '../helpers/processes.ts';
import { answeredIds, expectedIds, insertChatBatch, simMetrics, startSim, startWorker, waitForBatch } from './helpers.ts';

// A batch through the simulator playing llama.cpp's llama-server: 8 slots, response headers only
// when a slot starts a request, the connection closed after each streamed answer although
// Keep-Alive is advertised (tools/server/server-context.cpp handle_completions_impl; cpp-httplib).
// Run as a new user would (default engine settings), such a batch once produced 8 successes and
// 243 failures: the capacity was never learned, queued requests hit the 30 s header timeout, and
// resets of reused connections were counted as failed attempts.
describe("a batch on llama.cpp's llama-server", () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  const statuses = async (database: ReturnType<typeof test>['database'], batchId: string) =>
    rows<{ status: string; n: number }>(
      database.db,
      sql`select status, count(*)::int as n from request_states where batch_id = ${batchId} group by 1 order by 1`,
    );

  it.each([
    { gauges: 'its llamacpp: gauges', flags: ['--metrics'], env: {} as Record<string, string>, counted: true },
    { gauges: 'no /metrics (501)', flags: [], env: {}, counted: false },
    // llama-server guards /metrics with its --api-key too (its public endpoints are /health and /v1/models).
    {
      gauges: 'its gauges behind --api-key',
      flags: ['--metrics', '--api-key', 'the-key'],
      env: { ENGINE_API_KEY: 'the-key' },
      counted: false,
    },
  ])(
    'completes every request once, each generated once, learning its 8 slots from $gauges',
    { timeout: 90_000 },
    async ({ flags, env, counted }) => {
      const { database, url } = test();
      const sim = await startSim([
        '--profile',
        'llamacpp',
        '--parallel',
        '8',
        '--ctx-size',
        '8192',
        ...flags,
        '--tpot-ms',
        '10',
        '--output-tokens',
        '60',
      ]);
      processes.push(sim.process);
      const batchId = await insertChatBatch(database, { count: 120 });
      const worker = await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url, ...env });
      processes.push(worker);
      expect(await waitForBatch(database, batchId, ['completed'], 80_000)).toBe('completed');
      expect(await answeredIds(database, batchId)).toEqual(expectedIds(120));
      expect(await statuses(database, batchId)).toEqual([{ status: 'succeeded', n: 120 }]);
      // No engine call failed, and (where the engine counts them) no request was generated twice:
      // resets of reused connections came before the engine took the request.
      expect(worker.output()).not.toMatch(/the engine failed a request/);
      if (counted) expect((await simMetrics(sim.url)).requests).toBe(120);
      expect(worker.output()).toMatch(/learned the engine's capacity: 8 running/);
      // Where the engine shows its gauges, they are read: the worker does not fall back on its own view.
      if (flags.includes('--metrics')) expect(worker.output()).not.toMatch(/no vLLM load gauges/);
    },
  );
});
