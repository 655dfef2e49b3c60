import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createEngineClient } from '../../fleet/engine/client.ts';
import { createEngineGate } from '../../fleet/engine/gate.ts';
import { createWatchdog } from '../../fleet/engine/watchdog.ts';
import { createCapacity } from '../../fleet/worker/capacity.ts';
import { createWorker } from '../../fleet/worker/worker.ts';
import { rows } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { eventually, insertChatBatch, serveSimulator } from './helpers.ts';

describe.each(DRIVERS)('a worker whose engine stays unreachable, on %s', (driver) => {
  const database = useDriverDatabase(driver);
  const watchdog = createWatchdog(50);
  afterAll(() => watchdog.close());

  it('gives the work waiting for the engine back to the queue, for workers whose engines answer', async () => {
    const engine = await serveSimulator({ slots: 4, ttftMs: 1, tpotMs: 50, outputTokens: 200 });
    const { sim, url } = engine;
    const batchId = await insertChatBatch(database(), { count: 20 });
    const client = createEngineClient({ baseUrl: url, watchdog, connectTimeoutMs: 2000, firstTokenTimeoutMs: 2000, stallTimeoutMs: 2000 });
    const worker = createWorker({
      id: `engine-gone-${driver}`,
      database: database(),
      bus: createMemoryBus(),
      logger: createLogger({ level: 'silent' }),
      client,
      gate: createEngineGate({ health: () => client.health(500), probeMs: 50 }),
      capacity: createCapacity({ slots: 4, initial: 4, max: 4 }),
      models: () => ['sim-model'],
      timings: { leaseMs: 60_000, heartbeatMs: 200, pollMs: 50, flushMs: 20, loadPollMs: 100, engineDownMs: 500 },
      flushMax: 16,
      leaseMax: 64,
      maxRetries: 2,
      backoff: { baseMs: 5, maxMs: 20 },
      maxAttempts: 5,
    });
    worker.start();
    try {
      await eventually(async () => sim.counters().running > 0, 10_000, 'streams running');
      // The engine goes away for good: its streams break and /health stops answering.
      await engine.close();
      const held = async () =>
        (
          await rows<{ n: number }>(
            database().db,
            sql`select count(*)::int as n from request_states where batch_id = ${batchId} and status = 'leased'`,
          )
        )[0]?.n ?? 0;
      await eventually(async () => (await held()) === 0, 15_000, 'the leases given back');
    } finally {
      await worker.drain(500);
    }
    const left = await rows<{ status: string; attempts: number; n: number }>(
      database().db,
      sql`select status, attempts, count(*)::int as n from request_states where batch_id = ${batchId} group by 1, 2 order by 2`,
    );
    // Never sent: the attempt is refunded. Sent to the engine that went down: it counts.
    expect(left.map((r) => r.status)).toEqual(['queued', 'queued']);
    expect(left.map((r) => [r.attempts, r.n])).toEqual([
      [0, expect.any(Number)],
      [1, 4],
    ]);
  });
});
