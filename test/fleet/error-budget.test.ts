import { sql } from 'drizzle-orm';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { publishWrite } from '../../fleet/worker/settle.ts';
import { completeRequests, leaseRequests, rows, type Database, type Db, type LeasedRequest } from '../../schema/index.ts';
import { useApi } from '../api/harness.ts';
import type { Running } from '../helpers/processes.ts';
import { eventually, insertChatBatch, simMetrics, startSim, startWorker, waitForBatch, type Sim } from './helpers.ts';

const KEY = 'key-budget-fleet';

/** Lines the simulator answers at once (one token), rejects with a 400 (a broken template: max_tokens over the context), or runs for a long while. */
type Kind = 'quick' | 'broken' | 'slow';

const BROKEN_MESSAGE = 'max_tokens=100000 cannot be greater than max_model_len=max_total_tokens=8192.';

function batchFile(kinds: Kind[]): string {
  return kinds
    .map((kind, i) =>
      JSON.stringify({
        custom_id: `req-${i + 1}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'sim-model',
          messages: [{ role: 'user', content: `question ${i + 1}` }],
          ...(kind === 'quick' ? { max_tokens: 1 } : kind === 'broken' ? { max_tokens: 100_000 } : {}),
        },
      }),
    )
    .join('\n');
}

const lines = (n: number, kind: Kind): Kind[] => Array(n).fill(kind);

interface BatchJson {
  id: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  errors: { data: { code: string; message: string; param: string | null; line: number | null }[] } | null;
  request_counts: { total: number; completed: number; failed: number };
}

interface ResultLine {
  custom_id: string;
  response: { status_code: number; body: { error?: { message: string } } } | null;
  error: { code: string; message: string } | null;
}

describe('error budgets on a running fleet', () => {
  const api = useApi({ API_KEYS: KEY });
  const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  let sim: Sim;
  let worker: Running;

  beforeAll(async () => {
    // 40 s per slow request: a slow line finishes only if nothing stops its batch.
    sim = await startSim(['--slots', '64', '--tpot-ms', '20', '--output-tokens', '2000']);
    // 16 slots and the waiting margin of 8: 24 requests in flight, in line order, and the next line
    // is sent only when one of them ends. A batch's broken lines come after its first 24, so they
    // run once its quick lines have succeeded.
    worker = await startWorker({ DATABASE_URL: api().db.url, ENGINE_URL: sim.url, ENGINE_MAX_NUM_SEQS: '16' });
  }, 60_000);
  afterAll(async () => {
    await worker?.stop();
    await sim?.process.stop();
  });

  async function submit(kinds: Kind[], budget: Record<string, unknown>): Promise<string> {
    const file = await api()
      .client(KEY)
      .files.create({ file: await toFile(Buffer.from(batchFile(kinds)), 'budget.jsonl'), purpose: 'batch' });
    const res = await api().app.request('/v1/batches', {
      method: 'POST',
      headers,
      body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', ...budget }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as BatchJson).id;
  }

  async function ended(id: string): Promise<BatchJson> {
    await api().validated();
    await waitForBatch(api().db.database, id, ['completed', 'failed', 'expired', 'cancelled'], 60_000).catch((error: unknown) => {
      throw new Error(`${String(error)}\n--- worker log (tail) ---\n${worker.output().slice(-6000)}`);
    });
    return (await (await api().app.request(`/v1/batches/${id}`, { headers })).json()) as BatchJson;
  }

  async function file(id: string | null): Promise<ResultLine[]> {
    if (id === null) return [];
    const text = await (await api().client(KEY).files.content(id)).text();
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ResultLine);
  }

  it('stops a batch whose template is broken once more than max_failed_requests fail, keeping what succeeded', async () => {
    const kinds = [...lines(5, 'quick'), ...lines(19, 'slow'), ...lines(20, 'broken'), ...lines(56, 'slow')];
    const id = await submit(kinds, { max_failed_requests: 5 });
    const batch = await ended(id);
    expect(batch.status).toBe('failed');
    const { completed, failed, total } = batch.request_counts;
    expect(total).toBe(100);
    expect(failed).toBeGreaterThan(5);
    expect(failed).toBeLessThanOrEqual(20);

    // One error, quoting the failure message with its count.
    expect(batch.errors?.data).toHaveLength(1);
    const [error] = batch.errors?.data ?? [];
    expect(error).toMatchObject({ code: 'too_many_failures', param: 'max_failed_requests', line: null });
    expect(error?.message).toContain(`${failed} of its ${completed + failed} finished requests failed, more than max_failed_requests (5)`);
    expect(error?.message).toContain(`Commonest failures: ${failed} × "${BROKEN_MESSAGE}`);
    expect(error?.message).toContain('(HTTP 400)');

    // The output file: the lines that succeeded (the quick ones; the slow ones were stopped).
    const output = await file(batch.output_file_id);
    expect(output.map((l) => l.custom_id).sort()).toEqual(['req-1', 'req-2', 'req-3', 'req-4', 'req-5']);
    expect(completed).toBe(5);
    // The error file: the failures as the engine answered them, and every unfinished line as batch_failed.
    const errors = await file(batch.error_file_id);
    expect(errors).toHaveLength(95);
    const answered = errors.filter((l) => l.response?.status_code === 400);
    expect(answered).toHaveLength(failed);
    for (const line of answered) expect(line.response?.body.error?.message).toContain(BROKEN_MESSAGE);
    const unfinished = errors.filter((l) => l.error?.code === 'batch_failed');
    expect(unfinished).toHaveLength(95 - failed);
    const slow = kinds.flatMap((kind, i) => (kind === 'slow' ? [`req-${i + 1}`] : []));
    expect(unfinished.map((l) => l.custom_id)).toEqual(expect.arrayContaining(slow));
    // The aborted streams freed the engine.
    await eventually(async () => (await simMetrics(sim.url)).running === 0, 20_000, 'the engine to be free');
  });

  it('checks max_failure_ratio from min_requests_for_ratio finished requests', async () => {
    // Half broken, checked from 20: stopped, once enough have finished.
    const over = await submit([...lines(10, 'quick'), ...lines(14, 'slow'), ...lines(20, 'broken'), ...lines(6, 'slow')], {
      max_failure_ratio: 0.5,
      min_requests_for_ratio: 20,
    });
    const stopped = await ended(over);
    expect(stopped.status).toBe('failed');
    expect(stopped.errors?.data[0]).toMatchObject({ code: 'too_many_failures', param: 'max_failure_ratio' });
    expect(stopped.errors?.data[0]?.message).toContain(
      'more than max_failure_ratio (0.5) of the finished requests, checked from min_requests_for_ratio (20)',
    );
    expect(stopped.request_counts.completed).toBe(10);
    expect(stopped.request_counts.failed).toBeGreaterThan(10);
    // Half broken too, but 12 lines never reach 20 finished: it runs to the end.
    const small = await submit([...lines(6, 'quick'), ...lines(6, 'broken')], { max_failure_ratio: 0.1, min_requests_for_ratio: 20 });
    const finished = await ended(small);
    expect(finished).toMatchObject({ status: 'completed', errors: null, request_counts: { total: 12, completed: 6, failed: 6 } });
  });

  it('runs a batch without a budget to completion however many requests fail, as OpenAI does', async () => {
    const id = await submit([...lines(10, 'broken'), ...lines(10, 'quick')], {});
    const batch = await ended(id);
    expect(batch).toMatchObject({ status: 'completed', errors: null, request_counts: { total: 20, completed: 10, failed: 10 } });
    const errors = await file(batch.error_file_id);
    expect(errors.map((l) => l.response?.status_code)).toEqual(Array(10).fill(400));
  });
});

describe('the cost of error budgets on the result write path', () => {
  const api = useApi();

  /**
   * The database with its statements counted, unnamed (`execute`) and prepared (the session's
   * `prepareQuery`, which `preparedRows` runs on postgres.js); transactions' statements are not:
   * none is expected.
   */
  function counting(database: Database): { database: Database; count: () => number } {
    let n = 0;
    const session = new Proxy(database.db._.session, {
      get(target, prop) {
        if (prop === 'prepareQuery') n++;
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const db = new Proxy(database.db, {
      get(target, prop) {
        if (prop === '_') return { ...target._, session };
        if (prop === 'execute')
          return (query: Parameters<Db['execute']>[0]) => {
            n++;
            return target.execute(query);
          };
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    return { database: { ...database, db }, count: () => n };
  }

  const write = async (database: Database, leased: LeasedRequest[], status: 'succeeded' | 'failed') =>
    completeRequests(
      database.db,
      'w-cost',
      leased.map((r) => ({
        id: r.id,
        rangeId: r.rangeId,
        batchId: r.batchId,
        line: r.line,
        startedAtMs: Date.now(),
        status,
        statusCode: status === 'failed' ? 400 : 200,
        response: status === 'failed' ? '{"error":{"message":"bad"}}' : '{"object":"chat.completion"}',
        engineRequestId: null,
        error: null,
        promptTokens: 1,
        completionTokens: 1,
      })),
    );

  it('adds no statement to a write of a batch without a budget, nor of one within its budget', async () => {
    const { database: base } = api().db;
    const deps = { bus: createMemoryBus(), logger: createLogger({ level: 'silent' }) };
    const none = await insertChatBatch(base, { count: 10, model: 'cost-none' });
    const within = await insertChatBatch(base, { count: 10, model: 'cost-within' });
    await base.db.execute(sql`update batches set max_failed_requests = 5 where id = ${within}`);
    const held = new Map<string, LeasedRequest[]>();
    for (const [batchId, model] of [
      [none, 'cost-none'],
      [within, 'cost-within'],
    ] as const) {
      const leased = await leaseRequests(base.db, { owner: 'w-cost', model, limit: 10, leaseMs: 60_000 });
      held.set(batchId, leased);
      const { database, count } = counting(base);
      const counters = await write(database, leased.slice(0, 4), 'failed');
      // The write and the read of the counters, as before budgets.
      expect(count(), batchId).toBe(2);
      expect(counters).toMatchObject([{ batchId, failed: 4, overBudget: false }]);
      await publishWrite({ ...deps, database }, counters);
      expect(count(), batchId).toBe(2);
    }
    // Over the budget, the settle that stops the batch is what costs statements more.
    const { database, count } = counting(base);
    const counters = await write(database, held.get(within)?.slice(4, 6) ?? [], 'failed');
    expect(counters).toMatchObject([{ batchId: within, failed: 6, overBudget: true }]);
    await publishWrite({ ...deps, database }, counters);
    expect(count()).toBeGreaterThan(2);
    const [row] = await rows<{ exceeded: boolean }>(
      base.db,
      sql`select budget_exceeded_at is not null as exceeded from batches where id = ${within}`,
    );
    expect(row?.exceeded).toBe(true);
  });
});
