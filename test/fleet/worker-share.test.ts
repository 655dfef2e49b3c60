import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createEngineClient } from '../../fleet/engine/client.ts';
import { createEngineGate } from '../../fleet/engine/gate.ts';
import { createCapacity } from '../../fleet/worker/capacity.ts';
import { createWorker } from '../../fleet/worker/worker.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { answeredIds, expectedIds, insertChatBatch, useServedSimulator, waitForBatch } from './helpers.ts';

/** Longer than the test may take: a batch that finishes did not wait for the polling backstop. */
const FOREVER_MS = 3_600_000;

describe.each(DRIVERS)('a worker whose share of a batch is smaller than what it wants, on %s', (driver) => {
  const database = useDriverDatabase(driver);
  const { watchdog, url: simUrl } = useServedSimulator({ slots: 32, ttftMs: 1, tpotMs: 1, outputTokens: 8 });

  // flushMs 400: every line of a lease is answered before the first of them is written, so the share
  // frees only when the results are written, and the write must wake the lease loop (the last answer
  // finds nothing leasable yet: the database still counts the unwritten lines as this worker's).
  it.each([20, 400])(
    'leases the rest of the batch as its lines finish, without waiting for the next poll (results written every %i ms)',
    async (flushMs) => {
      // Four live workers serve the model (only this one leases), so this one may hold ceil(40 / 4) = 10
      // lines of the batch at a time: each lease brings fewer lines than it asked for, and the queue is not empty.
      await database().db.execute(sql`insert into workers (id, host, gpu, pid, model, engine_url, status) values
      ('peer-1', 'h', '1', 1, 'sim-model', 'http://e', 'ready'), ('peer-2', 'h', '2', 1, 'sim-model', 'http://e', 'ready'),
      ('peer-3', 'h', '3', 1, 'sim-model', 'http://e', 'ready'), ('peer-4', 'h', '4', 1, 'sim-model', 'http://e', 'ready')`);
      const batchId = await insertChatBatch(database(), { count: 40 });
      const client = createEngineClient({
        baseUrl: simUrl(),
        watchdog,
        connectTimeoutMs: 5000,
        firstTokenTimeoutMs: 5000,
        stallTimeoutMs: 5000,
      });
      const worker = createWorker({
        id: `share-${driver}-${flushMs}`,
        database: database(),
        bus: createMemoryBus(),
        logger: createLogger({ level: 'silent' }),
        client,
        gate: createEngineGate({ health: () => client.health(), probeMs: 50 }),
        capacity: createCapacity({ initial: 16, max: 16 }),
        models: () => ['sim-model'],
        timings: { leaseMs: 60_000, heartbeatMs: 200, pollMs: FOREVER_MS, flushMs, loadPollMs: 100 },
        flushMax: 16,
        leaseMax: 64,
        maxRetries: 2,
        backoff: { baseMs: 5, maxMs: 20 },
        maxAttempts: 3,
      });
      worker.start();
      try {
        expect(await waitForBatch(database(), batchId, ['completed'], 20_000)).toBe('completed');
      } finally {
        await worker.drain(1000);
        await database().db.execute(sql`delete from workers where id like 'peer-%'`);
      }
      expect(await answeredIds(database(), batchId)).toEqual(expectedIds(40));
    },
  );
});
