import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { registerModel, rows, type Database } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import type { Running } from '../helpers/processes.ts';
import { insertChatBatch, simMetrics, startSim, startWorker, waitForBatch, type Sim } from './helpers.ts';

/** A chat batch whose prompts are about `promptTokens` tokens (the simulator counts four characters a token). */
const longPrompts = (count: number, promptTokens: number) =>
  Object.fromEntries(
    Array.from({ length: count }, (_, i) => [
      i + 1,
      { model: 'sim-model', messages: [{ role: 'user', content: `question ${i + 1} ${'context '.repeat(promptTokens / 2)}` }] },
    ]),
  );

/** Samples the engine's running count until the batch ends; returns the highest. */
async function peakRunning(sim: Sim, database: Database, batchId: string): Promise<number> {
  let peak = 0;
  const done = waitForBatch(database, batchId, ['completed'], 90_000).then(() => true);
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    peak = Math.max(peak, (await simMetrics(sim.url)).running || 0);
    await new Promise((r) => setTimeout(r, 50));
  }
  await done;
  return peak;
}

const workerCapacity = async (database: Database) =>
  (
    await rows<{ capacity: number }>(
      database.db,
      sql`select capacity from workers where status = 'ready' order by heartbeat_at desc limit 1`,
    )
  )[0]?.capacity ?? 0;

describe('keeping a vLLM engine full', () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  // vLLM V1 admits waiting requests only while a step's token budget lasts
  // (vllm/v1/core/sched/scheduler.py, schedule(): `while self.waiting and token_budget > 0`), so
  // requests wait during a ramp-up while far fewer than max_num_seqs run. The worker once took
  // the first such reading for the engine's size and kept the GPU a fraction full.
  it('fills every slot through a ramp-up under the token budget', { timeout: 120_000 }, async () => {
    const { database, url } = test();
    const sim = await startSim(['--max-num-seqs', '128', '--max-num-batched-tokens', '512', '--tpot-ms', '10', '--output-tokens', '150']);
    processes.push(sim.process);
    const batchId = await insertChatBatch(database, { count: 1200, bodies: longPrompts(1200, 100) });
    const worker = await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url, INITIAL_IN_FLIGHT: '256' });
    processes.push(worker);
    expect(await peakRunning(sim, database, batchId)).toBe(128);
    expect(worker.output()).toMatch(/learned the engine's capacity: 12[0-8] running/);
  });

  it("runs as many requests at once as the registry's maxConcurrency says, on an engine it is given by URL", {
    timeout: 60_000,
  }, async () => {
    const { database, url } = test();
    await registerModel(database.db, {
      name: 'bounded-model',
      source: 'org/bounded-model',
      engineArgs: [],
      maxConcurrency: 8,
      enabled: true,
    });
    const sim = await startSim(['--model', 'bounded-model', '--max-num-seqs', '64', '--tpot-ms', '5', '--output-tokens', '40']);
    processes.push(sim.process);
    const batchId = await insertChatBatch(database, { count: 200, model: 'bounded-model' });
    processes.push(await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url }));
    const peak = await peakRunning(sim, database, batchId);
    expect(peak).toBeGreaterThanOrEqual(8);
    expect(peak).toBeLessThanOrEqual(16);
  });

  // vLLM started with --disable-log-stats still answers /metrics with 200, but without any vllm:
  // series (no stat logger is registered: vllm/v1/engine/async_llm.py, stat loggers).
  it('learns the capacity of an engine without load gauges from its own requests, and says once that it has no gauges', {
    timeout: 60_000,
  }, async () => {
    const { database, url } = test();
    const sim = await startSim(['--max-num-seqs', '32', '--disable-log-stats', '--tpot-ms', '25', '--output-tokens', '60']);
    processes.push(sim.process);
    const batchId = await insertChatBatch(database, { count: 200 });
    const worker = await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url, INITIAL_IN_FLIGHT: '64' });
    processes.push(worker);
    await worker.waitFor(/learned the engine's capacity: 32 running/, 30_000);
    expect(await waitForBatch(database, batchId, ['completed'], 60_000)).toBe('completed');
    expect(worker.output().match(/no vLLM load gauges/g)).toHaveLength(1);
    expect(await workerCapacity(database)).toBe(32 + 8);
  });
});
