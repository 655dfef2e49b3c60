import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createCapacity } from '../../fleet/worker/capacity.ts';
import type { LoadReading } from '../../fleet/worker/engine-metrics.ts';
import { createLoadFollower } from '../../fleet/worker/load-follower.ts';
import { createWorkerRow } from '../../fleet/worker/worker-row.ts';
import type { WorkerStats } from '../../fleet/worker/worker.ts';
import { listWorkers, registerWorker } from '../../schema/index.ts';
import { useDriverDatabase } from '../helpers/database.ts';
import { eventually } from '../fleet/helpers.ts';

describe("the worker's KV-cache use", () => {
  const database = useDriverDatabase('postgres');

  it("keeps the engine's last KV-cache reading: a reading without the gauge clears it, no answer leaves it", async () => {
    const readings: LoadReading[] = [
      { kind: 'load', running: 3, waiting: 0, kvCacheUsage: 0.25 },
      { kind: 'unreachable' },
      { kind: 'no_gauges', status: 200 },
    ];
    let reads = 0;
    const seen: (number | null)[] = [];
    const load = createLoadFollower({
      readLoad: async () => readings[Math.min(reads++, readings.length - 1)]!,
      capacity: createCapacity({ slots: 8, initial: 8, max: 8 }),
      inFlight: () => 0,
      finished: () => 0,
      onReading: () => seen.push(load.kvCacheUsage),
      pollMs: 10,
    });
    load.start();
    await eventually(async () => seen.length >= 3, 5000, 'three readings');
    load.stop();
    expect(seen.slice(0, 3)).toEqual([0.25, 0.25, null]);
  });

  it('writes it into the worker row with each heartbeat, and Worker.kvCacheUsage reads it', async () => {
    const id = 'kv-worker';
    await registerWorker(database().db, {
      id,
      host: 'h',
      gpu: '0',
      pid: 1,
      runtime: 'node',
      model: 'm',
      engineUrl: 'http://engine',
      status: 'ready',
    });
    let kvCacheUsage: number | null = 0.5;
    const stats = (): WorkerStats => ({
      inFlight: 2,
      buffered: 0,
      target: 8,
      unwritten: 0,
      completed: 10,
      failed: 0,
      completionRate: 1,
      kvCacheUsage,
    });
    const row = createWorkerRow({
      database: database(),
      id,
      gpu: 'none',
      engineUrl: 'http://engine',
      heartbeatMs: 1000,
      logger: createLogger({ level: 'silent' }),
      state: () => ({ status: 'ready', models: ['m'], loading: null }),
      stats,
      modelCards: () => [],
    });
    await row.write();
    const shown = async () => (await listWorkers(database().db)).find((w) => w.id === id)?.kvCacheUsage;
    expect(await shown()).toBe(0.5);
    kvCacheUsage = null;
    await row.write();
    expect(await shown()).toBeNull();
  });
});
