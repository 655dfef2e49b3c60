import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus, TOPICS, type BusEvent } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createEngineClient } from '../../fleet/engine/client.ts';
import { createEngineGate } from '../../fleet/engine/gate.ts';
import { createWatchdog } from '../../fleet/engine/watchdog.ts';
import { createSimulator } from '../../fleet/sim/index.ts';
import { createCapacity } from '../../fleet/worker/capacity.ts';
import { createWorker } from '../../fleet/worker/worker.ts';
import { rows } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { answeredIds, eventually, expectedIds, insertChatBatch, waitForBatch } from './helpers.ts';

describe.each(DRIVERS)('the worker loop in-process on Node, on %s', (driver) => {
  const database = useDriverDatabase(driver);
  const sim = createSimulator({ slots: 32, ttftMs: 1, tpotMs: 1, outputTokens: 8 });
  const watchdog = createWatchdog(50);
  let server: Server;
  let url = '';
  beforeAll(async () => {
    server = serve({ fetch: sim.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    sim.close();
    watchdog.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('finishes a batch, publishing progress from the counters its writes return and the final status', async () => {
    const bus = createMemoryBus();
    const batchId = await insertChatBatch(database(), { count: 150 });
    const events: BusEvent[] = [];
    await bus.subscribe(TOPICS.batch(batchId), (event) => events.push(event));
    const client = createEngineClient({ baseUrl: url, watchdog, connectTimeoutMs: 5000, firstTokenTimeoutMs: 5000, stallTimeoutMs: 5000 });
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
    const [tokens] = await rows<{ n: number }>(database().db, sql`select completion_tokens::int as n from batches where id = ${batchId}`);
    expect(progress.at(-1)).toMatchObject({ completionTokens: tokens?.n });
  });
});
