import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunOutcome } from '../../fleet/handler-runner/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createHandlerRunner, type HandlerRunner } from '../../fleet/handler-runner/index.ts';
import { ANY_DESTINATION, defineHandler, HandlerError, z, type HandlerResult } from '../../handlers/sdk/index.ts';
import type { Database } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { finishedBatch, runsEnded, runsOf } from './support/batches.ts';
import { registryOf } from './support/registry.ts';

const calls = new Map<string, number>();
const bump = (key: string) => {
  const n = (calls.get(key) ?? 0) + 1;
  calls.set(key, n);
  return n;
};

const flaky = defineHandler({
  name: 'flaky',
  description: 'Throws twice, then succeeds.',
  options: z.object({}),
  async handle(context) {
    const n = bump(`flaky:${context.batch.id}`);
    if (n <= 2) throw new Error(`flaky failure ${n}`);
    return { attempt: context.attempt };
  },
});

const broken = defineHandler({
  name: 'broken',
  description: 'Always fails.',
  options: z.object({ permanent: z.boolean().default(false) }),
  async handle(context) {
    throw new HandlerError(`broken on attempt ${context.attempt}`, { retryable: !context.options.permanent });
  },
});

const reader = defineHandler({
  name: 'reader',
  description: 'Reads every result and reports what it saw.',
  options: z.object({}),
  async handle(context) {
    let count = 0;
    let inOrder = true;
    let last = 0;
    const errors: string[] = [];
    for await (const result of context.results()) {
      count++;
      const line = Number(result.custom_id.slice(4));
      if (line <= last) inOrder = false;
      last = line;
      if (result.error) errors.push(result.custom_id);
    }
    const outputs: HandlerResult[] = [];
    for await (const r of context.results({ only: 'output' })) if (outputs.length < 1) outputs.push(r);
    return {
      count,
      inOrder,
      errors,
      first: outputs[0],
      batch: { status: context.batch.status, counts: context.batch.request_counts, output: context.batch.output_file_id },
    };
  },
});

const failedOnly = defineHandler({
  name: 'failedOnly',
  description: 'Runs only for failed batches.',
  options: z.object({}),
  events: ['failed'],
  handle: async () => ({}),
});

const resumer = defineHandler({
  name: 'resumer',
  description: 'Saves progress, fails, and resumes from it.',
  options: z.object({}),
  async handle(context) {
    if (context.attempt === 1) {
      await context.saveCheckpoint({ done: 2 });
      throw new Error('interrupted after 2');
    }
    return { resumedFrom: context.checkpoint };
  },
});

const aborts: unknown[] = [];
const waiter = defineHandler({
  name: 'waiter',
  description: 'Waits until it is aborted.',
  options: z.object({}),
  async handle(context) {
    await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }));
    aborts.push(context.signal.reason);
    throw new Error('stopped waiting');
  },
});

const deaf = defineHandler({
  name: 'deaf',
  description: 'Never ends and ignores its abort signal.',
  options: z.object({}),
  handle: () => new Promise(() => {}),
});

const keyed = defineHandler({
  name: 'keyed',
  description: 'Reports its run id.',
  options: z.object({}),
  handle: async (context) => ({ runId: context.runId }),
});

const registry = registryOf([flaky], [broken], [reader], [failedOnly], [resumer], [waiter], [deaf], [keyed]);
const logger = createLogger({ level: 'silent' });
let runner: HandlerRunner | undefined;
afterEach(async () => {
  await runner?.stop();
  runner = undefined;
});

function startRunner(database: Database) {
  runner = createHandlerRunner({
    database,
    registry,
    destinations: ANY_DESTINATION,
    logger,
    pollIntervalMs: 50,
    backoff: { baseMs: 10, maxMs: 50 },
    resultsPageSize: 100,
  });
  runner.start();
  return runner;
}

describe.each(DRIVERS)('the handler runner on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('ends a handler that throws twice then succeeds as succeeded after 3 attempts', async () => {
    const batchId = await finishedBatch(database(), { handlers: { flaky: {} } });
    startRunner(database());
    const [run] = await runsEnded(database(), batchId);
    expect(run).toMatchObject({
      handler: 'flaky',
      status: 'succeeded',
      attempts: 3,
      last_error: 'flaky failure 2',
      result: { attempt: 3 },
    });
  });

  it('ends a handler that keeps failing as dead with the last error, and a permanent failure at once', async () => {
    const batchId = await finishedBatch(database(), { handlers: { broken: {} } });
    const permanentId = await finishedBatch(database(), { handlers: { broken: { permanent: true } } });
    await database().db.execute(sql`update handler_runs set max_attempts = 3 where batch_id = ${batchId}`);
    startRunner(database());
    expect((await runsEnded(database(), batchId))[0]).toMatchObject({ status: 'dead', attempts: 3, last_error: 'broken on attempt 3' });
    expect((await runsEnded(database(), permanentId))[0]).toMatchObject({ status: 'dead', attempts: 1, last_error: 'broken on attempt 1' });
  });

  it('streams every result from Postgres in line order, output then errors', async () => {
    const batchId = await finishedBatch(database(), { succeeded: 1200, failed: 30, handlers: { reader: {} } });
    startRunner(database());
    const [run] = await runsEnded(database(), batchId);
    const result = run?.result as Record<string, any>;
    expect(run?.status).toBe('succeeded');
    expect(result.count).toBe(1230);
    expect(result.inOrder).toBe(true);
    expect(result.errors).toHaveLength(30);
    expect(result.errors[0]).toBe('req-1201');
    expect(result.first).toEqual({
      id: expect.stringMatching(/^batch_req_/),
      custom_id: 'req-1',
      response: { status_code: 200, request_id: 'chatcmpl-1', body: expect.objectContaining({ object: 'chat.completion' }) },
      error: null,
      request: { model: 'sim-model', messages: [] },
      metadata: null,
    });
    expect(result.batch).toMatchObject({
      status: 'completed',
      counts: { total: 1230, completed: 1200, failed: 30 },
      output: expect.stringMatching(/^file-/),
    });
  });

  it('gives the handler a run id unique beyond its database, as its idempotency key', async () => {
    const batchId = await finishedBatch(database(), { handlers: { keyed: {} } });
    startRunner(database());
    // A database's handler run ids start at 1: two deployments, or one whose database was reset, would share them.
    expect((await runsEnded(database(), batchId))[0]).toMatchObject({ status: 'succeeded', result: { runId: `${batchId}:keyed` } });
  });

  it('ends a run as skipped when its handler does not run for the batch event', async () => {
    const batchId = await finishedBatch(database(), { handlers: { failedOnly: {} } });
    startRunner(database());
    expect((await runsEnded(database(), batchId))[0]).toMatchObject({
      status: 'skipped',
      attempts: 1,
      result: { reason: 'failedOnly does not run for completed batches (it runs for: failed)' },
    });
  });

  it('hands a retry the checkpoint the failed attempt saved', async () => {
    const batchId = await finishedBatch(database(), { handlers: { resumer: {} } });
    startRunner(database());
    expect((await runsEnded(database(), batchId))[0]).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      result: { resumedFrom: { done: 2 } },
      checkpoint: { done: 2 },
    });
  });

  it('ends a run dead when the stored options no longer validate', async () => {
    const batchId = await finishedBatch(database(), { handlers: { broken: { permanent: 'yes' } } });
    startRunner(database());
    expect((await runsEnded(database(), batchId))[0]).toMatchObject({
      status: 'dead',
      attempts: 1,
      last_error: expect.stringContaining('broken.permanent'),
    });
  });

  /**
   * The grace on stop, before and after the interruption: the interrupted run is queued again
   * within the second one, a database write that took over 50 ms on a loaded machine.
   */
  const INTERRUPT_GRACE_MS = 1500;

  const running = async (batchId: string) => {
    for (let i = 0; i < 200; i++) {
      if ((await runsOf(database(), batchId))[0]?.status === 'running') return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('the run never started');
  };

  it('interrupts a running handler on stop and queues the run again', async () => {
    const batchId = await finishedBatch(database(), { handlers: { waiter: {} } });
    const mine = createHandlerRunner({
      database: database(),
      registry,
      destinations: ANY_DESTINATION,
      logger,
      pollIntervalMs: 50,
      stopGraceMs: INTERRUPT_GRACE_MS,
      backoff: { baseMs: 60_000, maxMs: 60_000 },
    });
    mine.start();
    await running(batchId);
    await mine.stop();
    expect(aborts.at(-1)).toBe('the process is stopping');
    // The interruption was the process's doing, not the handler's: the attempt is not counted.
    expect((await runsOf(database(), batchId))[0]).toMatchObject({
      status: 'queued',
      attempts: 0,
      last_error: 'attempt 1 was interrupted (the process is stopping): stopped waiting',
    });
    await database().db.execute(sql`delete from handler_runs where batch_id = ${batchId}`);
  });

  it('queues a run interrupted by stop on its last attempt again instead of ending it dead', async () => {
    const batchId = await finishedBatch(database(), { handlers: { waiter: {} } });
    await database().db.execute(sql`update handler_runs set max_attempts = 1 where batch_id = ${batchId}`);
    const mine = createHandlerRunner({
      database: database(),
      registry,
      destinations: ANY_DESTINATION,
      logger,
      pollIntervalMs: 50,
      stopGraceMs: INTERRUPT_GRACE_MS,
      backoff: { baseMs: 60_000, maxMs: 60_000 },
    });
    mine.start();
    await running(batchId);
    await mine.stop();
    expect((await runsOf(database(), batchId))[0]).toMatchObject({ status: 'queued', attempts: 0 });
    await database().db.execute(sql`delete from handler_runs where batch_id = ${batchId}`);
  });

  it('aborts a handler whose run another process took over, and leaves the run to it', async () => {
    const batchId = await finishedBatch(database(), { handlers: { waiter: {} } });
    const outcomes: RunOutcome[] = [];
    runner = createHandlerRunner({
      database: database(),
      registry,
      destinations: ANY_DESTINATION,
      logger,
      pollIntervalMs: 50,
      leaseMs: 300,
      onRunEnd: (_id, outcome) => outcomes.push(outcome),
    });
    runner.start();
    await running(batchId);
    await database().db.execute(sql`update handler_runs set lease_owner = 'another-process' where batch_id = ${batchId}`);
    for (let i = 0; i < 100 && outcomes.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(outcomes).toEqual(['lost']);
    expect(aborts.at(-1)).toBe('lease lost');
    expect((await runsOf(database(), batchId))[0]).toMatchObject({ status: 'running', attempts: 1 });
    await database().db.execute(sql`delete from handler_runs where batch_id = ${batchId}`);
  });

  it('stops even when a handler ignores its abort signal, leaving the run to its lease', async () => {
    const batchId = await finishedBatch(database(), { handlers: { deaf: {} } });
    const mine = createHandlerRunner({
      database: database(),
      registry,
      destinations: ANY_DESTINATION,
      logger,
      pollIntervalMs: 50,
      stopGraceMs: 50,
    });
    mine.start();
    await running(batchId);
    const stopped = await Promise.race([
      mine.stop().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('still stopping'), 10_000)),
    ]);
    expect(stopped).toBe('stopped');
    expect((await runsOf(database(), batchId))[0]).toMatchObject({ status: 'running', attempts: 1 });
    await database().db.execute(sql`delete from handler_runs where batch_id = ${batchId}`);
  });
});
