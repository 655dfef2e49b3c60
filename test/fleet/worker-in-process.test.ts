import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createMemoryBus, TOPICS, type BusEvent } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createEngineClient } from '../../fleet/engine/client.ts';
import { createEngineGate } from '../../fleet/engine/gate.ts';
import { createCapacity } from '../../fleet/worker/capacity.ts';
import { createWorker } from '../../fleet/worker/worker.ts';
import { COMPLETION_TOKENS, RANGE_SUMS, rows } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { answeredIds, eventually, expectedIds, insertChatBatch, useServedSimulator, waitForBatch } from './helpers.ts';

describe.each(DRIVERS)('the worker loop in-process on Node, on %s', (driver) => {
  const database = useDriverDatabase(driver);
  const { watchdog, url: simUrl } = useServedSimulator({ slots: 32, ttftMs: 1, tpotMs: 1, outputTokens: 8 });

  it('finishes a batch, publishing progress from the counters its writes return and the final status', async () => {
    const bus = createMemoryBus();
    const batchId = await insertChatBatch(database(), { count: 150 });
    const events: BusEvent[] = [];
    await bus.subscribe(TOPICS.batch(batchId), (event) => events.push(event));
    const client = createEngineClient({
      baseUrl: simUrl(),
      watchdog,
      connectTimeoutMs: 5000,
      firstTokenTimeoutMs: 5000,
      stallTimeoutMs: 5000,
    });
    const worker = createWorker({
      id: `in-process-${driver}`,
      database: database(),
      bus,
      logger: createLogger({ level: 'silent' }),
      client,
      gate: createEngineGate({ health: () => client.health(), probeMs: 50 }),
      capacity: createCapacity({ initial: 16, max: 64 }),
      models: () => ['sim-model'],
      timings: { leaseMs: 5000, heartbeatMs: 200, pollMs: 100, flushMs: 20, loadPollMs: 100 },
      flushMax: 32,
      leaseMax: 64,
      maxRetries: 2,
      backoff: { baseMs: 5, maxMs: 20 },
      maxAttempts: 3,
    });
    worker.start();
    try {
      expect(await waitForBatch(database(), batchId, ['completed'], 30_000)).toBe('completed');
    } finally {
      await worker.drain(1000);
    }
    expect(await answeredIds(database(), batchId)).toEqual(expectedIds(150));
    expect(worker.stats()).toMatchObject({ completed: 150, failed: 0, inFlight: 0 });
    const progress = events.filter((e) => e.type === 'batch.progress');
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toMatchObject({ batchId, owner: 'local', total: 150, completed: 150, failed: 0 });
    // Settling publishes after its statement: the events may trail the row by a moment.
    await eventually(async () => events.some((e) => e.type === 'batch.status' && e.status === 'completed'), 5000, 'the completed event');
    expect(events.filter((e) => e.type === 'batch.status').map((e) => e.status)).toEqual(['finalizing', 'completed']);
    const [tokens] = await rows<{ n: number }>(
      database().db,
      sql`select ${COMPLETION_TOKENS}::int as n from batches b ${RANGE_SUMS} where b.id = ${batchId}`,
    );
    expect(progress.at(-1)).toMatchObject({ completionTokens: tokens?.n });
  });
});
