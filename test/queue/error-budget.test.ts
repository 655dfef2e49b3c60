import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { afterReturnedLeases } from '../../fleet/worker/settle.ts';
import {
  CANCEL_CHANNEL,
  cancelBatch,
  completeRequests,
  newId,
  retryBatch,
  returnLeases,
  heartbeatLeases,
  leaseRequests,
  rows,
  settleBatch,
  stopRequests,
  streamResultLines,
  sweepBatches,
  type BatchErrorItem,
  type Database,
  type LeasedRequest,
  type RequestResult,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { answer, insertBatch, succeededResult } from './batch-fixtures.ts';

/** A 400 of the engine, its message naming a number of tokens that differs from line to line. */
const rejected = (r: LeasedRequest): RequestResult =>
  succeededResult(r, {
    status: 'failed',
    statusCode: 400,
    response: JSON.stringify({
      error: {
        message: `max_tokens=${9000 + r.line} cannot be greater than max_model_len=4096.`,
        type: 'BadRequestError',
        param: 'max_tokens',
        code: 400,
      },
    }),
    engineRequestId: null,
    promptTokens: null,
    completionTokens: null,
  });

interface BudgetRow {
  status: string;
  errors: BatchErrorItem[] | null;
  exceeded: boolean;
  completed: number;
  failed: number;
}

async function batchState(database: Database, id: string): Promise<BudgetRow> {
  const [row] = await rows<BudgetRow & { errors: string | BatchErrorItem[] | null }>(
    database.db,
    sql`select b.status, b.errors::text as errors, b.budget_exceeded_at is not null as exceeded,
          (select coalesce(sum(g.succeeded), 0)::int from request_ranges g where g.batch_id = b.id) as completed,
          (select coalesce(sum(g.failed), 0)::int from request_ranges g where g.batch_id = b.id) as failed
        from batches b where b.id = ${id}`,
  );
  if (!row) throw new Error(`no batch ${id}`);
  return { ...row, errors: typeof row.errors === 'string' ? (JSON.parse(row.errors) as BatchErrorItem[]) : row.errors };
}

async function errorCodes(database: Database, batchId: string) {
  const codes: (string | null)[] = [];
  for await (const line of streamResultLines(database.db, batchId, 'error')) {
    const parsed = JSON.parse(line) as { error: { code: string } | null; response: { status_code: number } | null };
    codes.push(parsed.error?.code ?? `http_${parsed.response?.status_code}`);
  }
  return codes;
}

async function setBudget(database: Database, id: string, budget: string) {
  await database.db.execute(sql`update batches set ${sql.raw(budget)} where id = ${id}`);
}

describe.each(DRIVERS)('error budgets on %s', (driver) => {
  const database = useDriverDatabase(driver);
  const lease = (owner: string, model: string, limit = 100) => leaseRequests(database().db, { owner, model, limit, leaseMs: 60_000 });

  it('stops a batch once more requests than max_failed_requests have failed, and ends it failed with the commonest failures', async () => {
    const batchId = await insertBatch(database(), { count: 12, model: 'm-budget-count' });
    await setBudget(database(), batchId, 'max_failed_requests = 2');
    const leased = await lease('w1', 'm-budget-count', 8);
    expect(leased).toHaveLength(8);
    const [a, b, c, d, e] = leased as [LeasedRequest, LeasedRequest, LeasedRequest, LeasedRequest, LeasedRequest];

    // Two failures are within the budget.
    const within = await completeRequests(database().db, 'w1', [succeededResult(a), rejected(b), rejected(c)]);
    expect(within).toMatchObject([{ batchId, completed: 1, failed: 2, overBudget: false }]);
    expect(await settleBatch(database().db, batchId)).toEqual([]);
    expect((await batchState(database(), batchId)).exceeded).toBe(false);

    // The third is over it: the settle records it, ends the unleased lines and waits for the leased ones.
    const over = await completeRequests(database().db, 'w1', [rejected(d), succeededResult(e)]);
    expect(over).toMatchObject([{ batchId, completed: 2, failed: 3, overBudget: true }]);
    expect(await settleBatch(database().db, batchId)).toEqual([]);
    expect(await batchState(database(), batchId)).toMatchObject({ status: 'in_progress', exceeded: true });
    // Counted once: the budget is recorded, so the next write's counters no longer call for a settle.
    const again = await completeRequests(database().db, 'w1', [rejected(leased[5]!)]);
    expect(again).toMatchObject([{ failed: 4, overBudget: false }]);
    // Nothing of it is leased any more; the worker's heartbeat says it is stopping.
    expect(await lease('w2', 'm-budget-count')).toEqual([]);
    const beats = await heartbeatLeases(database().db, { owner: 'w1', leaseMs: 60_000, ids: leased.map((l) => l.rangeId) });
    expect(beats.map((h) => h.stop)).toEqual(Array(beats.length).fill('failed'));
    expect(beats.length).toBe(2);

    // The worker aborts its two streams and gives the ranges back: the batch fails.
    expect(
      await stopRequests(
        database().db,
        'w1',
        leased.map((l) => l.rangeId),
      ),
    ).toEqual([batchId]);
    expect(await settleBatch(database().db, batchId)).toEqual([{ batchId, owner: 'local', from: 'in_progress', to: 'failed' }]);
    const state = await batchState(database(), batchId);
    expect(state).toMatchObject({ status: 'failed', completed: 2, failed: 4 });
    expect(state.errors).toEqual([
      {
        code: 'too_many_failures',
        param: 'max_failed_requests',
        line: null,
        message: expect.stringContaining(
          '4 of its 6 finished requests failed, more than max_failed_requests (2). 6 requests were not run; they are in the error file with code batch_failed. Commonest failures: 4 × "max_tokens=9002 cannot be greater than max_model_len=4096." (HTTP 400).',
        ),
      },
    ]);
    // The error file: the four failures and the six lines never run, in line order; request_states says cancelled for those.
    const codes = await errorCodes(database(), batchId);
    expect(codes.filter((c) => c === 'http_400')).toHaveLength(4);
    expect(codes.filter((c) => c === 'batch_failed')).toHaveLength(6);
    const [output] = await rows<{ n: number }>(
      database().db,
      sql`select count(*)::int as n from results where batch_id = ${batchId} and status = 'succeeded'`,
    );
    expect(output?.n).toBe(2);
    const [handlerless] = await rows<{ output: string | null; error: string | null }>(
      database().db,
      sql`select output_file_id as output, error_file_id as error from batches where id = ${batchId}`,
    );
    expect(handlerless?.output).toMatch(/^file-/);
    expect(handlerless?.error).toMatch(/^file-/);
  });

  it('checks max_failure_ratio only once min_requests_for_ratio requests have finished', async () => {
    const batchId = await insertBatch(database(), { count: 10, model: 'm-budget-ratio' });
    await setBudget(database(), batchId, 'max_failure_ratio = 0.5, min_requests_for_ratio = 4');
    const leased = await lease('w1', 'm-budget-ratio');
    const [a, b, c, d] = leased as [LeasedRequest, LeasedRequest, LeasedRequest, LeasedRequest];
    // Two of three failed: over half, but fewer than four have finished.
    expect(await completeRequests(database().db, 'w1', [rejected(a), rejected(b), succeededResult(c)])).toMatchObject([
      { overBudget: false },
    ]);
    // Three of four: checked now, and over.
    expect(await completeRequests(database().db, 'w1', [rejected(d)])).toMatchObject([{ overBudget: true }]);
    await settleBatch(database().db, batchId);
    await stopRequests(
      database().db,
      'w1',
      leased.map((l) => l.rangeId),
    );
    expect(await settleBatch(database().db, batchId)).toMatchObject([{ to: 'failed' }]);
    const state = await batchState(database(), batchId);
    expect(state.errors?.[0]).toMatchObject({ code: 'too_many_failures', param: 'max_failure_ratio' });
    expect(state.errors?.[0]?.message).toContain('3 of its 4 finished requests failed, more than max_failure_ratio (0.5)');
  });

  it('fails rather than completes a batch whose last results go over its budget, and counts equal messages together', async () => {
    const batchId = await insertBatch(database(), { count: 4, model: 'm-budget-last' });
    await setBudget(database(), batchId, 'max_failed_requests = 1');
    await answer(database(), batchId, [1, 2], 'succeeded');
    await answer(database(), batchId, [3, 4], 'failed');
    expect(await settleBatch(database().db, batchId)).toEqual([{ batchId, owner: 'local', from: 'in_progress', to: 'failed' }]);
    const state = await batchState(database(), batchId);
    expect(state.errors?.[0]?.message).toContain('0 requests were not run');
    expect(state.errors?.[0]?.message).toContain('Commonest failures: 2 × "bad request" (HTTP 400).');
    // Retried, its failed requests run again under the same budget.
    const retried = await retryBatch(database().db, { batchId, owner: 'local', newBatchId: newId('batch_'), newFileId: newId('file-') });
    expect(retried).toMatchObject({ kind: 'created', total: 2 });
    const [copy] = await rows<{ max: number | null }>(
      database().db,
      sql`select max_failed_requests as max from batches where id = ${retried.kind === 'created' ? retried.batchId : ''}`,
    );
    expect(copy?.max).toBe(1);
  });

  it('runs a batch without a budget to completion however many of its requests fail', async () => {
    const batchId = await insertBatch(database(), { count: 6, model: 'm-budget-none' });
    const leased = await lease('w1', 'm-budget-none');
    const counters = await completeRequests(database().db, 'w1', leased.map(rejected));
    expect(counters).toMatchObject([{ failed: 6, overBudget: false }]);
    expect(await settleBatch(database().db, batchId)).toMatchObject([{ to: 'finalizing' }, { to: 'completed' }]);
    expect(await batchState(database(), batchId)).toMatchObject({ status: 'completed', exceeded: false, errors: null, failed: 6 });
  });

  it('ends cancelled a batch cancelled while it stops over its budget', async () => {
    const batchId = await insertBatch(database(), { count: 4, model: 'm-budget-cancel' });
    await setBudget(database(), batchId, 'max_failed_requests = 0');
    const leased = await lease('w1', 'm-budget-cancel', 2);
    await completeRequests(database().db, 'w1', [rejected(leased[0]!)]);
    expect(await settleBatch(database().db, batchId)).toEqual([]);
    expect((await cancelBatch(database().db, batchId, 'local')).kind).toBe('cancelling');
    await stopRequests(
      database().db,
      'w1',
      leased.map((l) => l.rangeId),
    );
    expect(await settleBatch(database().db, batchId)).toEqual([{ batchId, owner: 'local', from: 'cancelling', to: 'cancelled' }]);
    expect(await batchState(database(), batchId)).toMatchObject({ status: 'cancelled', errors: null });
    // Lines the budget ended keep batch_failed; the one still leased when the cancel came is cancelled.
    expect(await errorCodes(database(), batchId)).toEqual(['http_400', 'batch_cancelled', 'batch_failed', 'batch_failed']);
  });

  it('wakes every worker to stop a batch that lines failed out of attempts take over its budget', async () => {
    const batchId = await insertBatch(database(), { count: 3, model: 'm-budget-returned', rangeLines: 1 });
    await setBudget(database(), batchId, 'max_failed_requests = 0');
    await lease('w1', 'm-budget-returned');
    // Line 1's lease is lost with its last attempt: the line fails (too_many_attempts), over the budget.
    const returned = await returnLeases(database().db, {
      where: sql`g.batch_id = ${batchId} and g.first_line = 1`,
      maxAttempts: 1,
      refundAttempt: false,
      limit: 10,
    });
    expect(returned).toMatchObject([{ batchId, status: 'failed', n: 1 }]);
    const notified: [string, string][] = [];
    const notify = async (channel: string, payload: string) => {
      notified.push([channel, payload]);
    };
    const deps = { database: { ...database(), notify }, bus: createMemoryBus(), logger: createLogger({ level: 'silent' }) };
    await afterReturnedLeases(deps, returned);
    expect(await batchState(database(), batchId)).toMatchObject({ status: 'in_progress', exceeded: true, failed: 1 });
    // The other workers abort lines 2 and 3 now, not at their next heartbeat.
    expect(notified).toEqual([[CANCEL_CHANNEL, batchId]]);
    // Returned again once recorded: no second wake.
    await afterReturnedLeases(deps, returned);
    expect(notified).toHaveLength(1);
  });

  it('lets the sweep finish a batch over its budget once no range of it is leased', async () => {
    const batchId = await insertBatch(database(), { count: 5, model: 'm-budget-sweep' });
    await setBudget(database(), batchId, 'max_failed_requests = 0');
    const [first, ...rest] = await lease('w1', 'm-budget-sweep');
    await completeRequests(database().db, 'w1', [rejected(first!)]);
    await settleBatch(database().db, batchId);
    // The worker died: its leases are reaped (returned as stopping), and the sweep finds the batch.
    await database().db.execute(sql`update request_ranges set lease_owner = null, lease_expires_at = null where batch_id = ${batchId}`);
    expect(rest.length).toBe(4);
    const swept = await sweepBatches(database().db);
    expect(swept.filter((t) => t.batchId === batchId)).toEqual([{ batchId, owner: 'local', from: 'in_progress', to: 'failed' }]);
    expect(await errorCodes(database(), batchId)).toEqual(['http_400', 'batch_failed', 'batch_failed', 'batch_failed', 'batch_failed']);
  });
});
