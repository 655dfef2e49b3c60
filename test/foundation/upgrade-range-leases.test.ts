import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  completeRequests,
  leaseRequests,
  rows,
  settleBatch,
  sweepBatches,
  unsettledBatches,
  type LeasedRequest,
  type RequestResult,
} from '../../schema/index.ts';
import { DRIVERS } from '../helpers/database.ts';
import { lines, OWNER } from './upgrade-fixtures.ts';
import {
  ALL,
  B,
  endedBatches,
  expectFinished,
  MODEL_B,
  RESULT_COLUMNS,
  UNFINISHED,
  upgradedDatabase,
  VALIDATING_LINES,
  type BatchObject,
  type Upgraded,
} from './upgrade-previous-batches.ts';

// The previous release's database (upgrade-previous-batches.ts) migrated by the current
// runMigrations, then finished by the new release's statements as its fleet runs them.
// upgrade-range-leases-fleet.test.ts finishes it with a worker process instead.
describe.each(DRIVERS)('a database made by the release before range leases, upgraded on %s', (driver) => {
  let upgraded: Upgraded;
  beforeAll(async () => {
    upgraded = await upgradedDatabase(driver);
  }, 60_000);
  afterAll(async () => {
    await upgraded?.close();
  });

  it('keeps every finished request as a result with the same status, bytes, tokens and times', async () => {
    const results = await rows<Record<string, unknown>>(
      upgraded.database.db,
      sql`select ${RESULT_COLUMNS}, attempts from results order by batch_id, line`,
    );
    expect(results.length).toBe(upgraded.before.finished.length);
    expect(results).toEqual(upgraded.before.finished);
  });

  it('queues the unfinished lines (queued, or leased by the stopped worker) in open ranges that no worker holds', async () => {
    for (const id of UNFINISHED) {
      const queued = await rows<{ at: string }>(
        upgraded.database.db,
        sql`select line || ':' || model as at from request_states where batch_id = ${id} and status = 'queued' order by line`,
      );
      expect(
        queued.map((q) => q.at),
        id,
      ).toEqual(upgraded.before.unfinished.get(id));
      const ranges = await rows<{
        model: string;
        size: number;
        leased: boolean;
        finished: boolean;
        attempts: number;
        counted: number;
        owner: string;
        priority: number;
      }>(
        upgraded.database.db,
        sql`select model, size, lease_owner is not null as leased, finished_at is not null as finished, attempts,
              (succeeded + failed + prompt_tokens + completion_tokens)::int as counted, owner, priority
            from request_ranges where batch_id = ${id}`,
      );
      expect(
        ranges.every((r) => !r.leased && !r.finished && r.attempts === 0 && r.counted === 0 && r.owner === OWNER),
        id,
      ).toBe(true);
      expect(
        ranges.reduce((n, r) => n + r.size, 0),
        id,
      ).toBe(upgraded.before.unfinished.get(id)?.length);
      // Cut as ingest cuts a new batch: per model, ceil(lines / 256) lines a range.
      for (const model of new Set(ranges.map((r) => r.model))) {
        const open = upgraded.before.unfinished.get(id)!.filter((at) => at.endsWith(`:${model}`)).length;
        expect(Math.max(...ranges.filter((r) => r.model === model).map((r) => r.size)), `${id} ${model}`).toBe(Math.ceil(open / 256));
      }
    }
    const [running] = await rows<{ priority: number }>(
      upgraded.database.db,
      sql`select distinct priority from request_ranges where batch_id = ${B.running}`,
    );
    expect(running?.priority).toBe(2);
    const elsewhere = await rows<{ batchId: string }>(
      upgraded.database.db,
      sql`select distinct batch_id as "batchId" from request_ranges where batch_id not in (${sql.join(
        UNFINISHED.map((id) => sql`${id}`),
        sql`, `,
      )})`,
    );
    expect(elsewhere).toEqual([]);
    const leased = await rows<{ n: number }>(
      upgraded.database.db,
      sql`select count(*)::int as n from request_states where status = 'leased'`,
    );
    expect(leased[0]?.n).toBe(0);
  });

  it("shows every batch with the counters and usage it had, and serves the ended batches' result files byte for byte", async () => {
    for (const id of ALL) {
      const batch = await upgraded.get<BatchObject>(`/v1/batches/${id}`);
      const was = upgraded.before.counters.get(id)!;
      expect(batch.request_counts, id).toEqual({ total: was.total, completed: was.completed, failed: was.failed });
      expect(batch.usage, id).toMatchObject({ input_tokens: was.promptTokens, output_tokens: was.completionTokens });
    }
    for (const id of [B.completed, B.expired, B.cancelled]) {
      const batch = await upgraded.get<BatchObject>(`/v1/batches/${id}`);
      const previous = upgraded.before.resultLines.get(id)!;
      for (const [fileId, kind] of [
        [batch.output_file_id, 'output'],
        [batch.error_file_id, 'error'],
      ] as const) {
        const expected = [...previous[kind].values()].join('');
        expect(expected, `${id} ${kind}`).not.toBe('');
        expect(await upgraded.download(fileId), `${id} ${kind}`).toBe(expected);
        expect(await upgraded.fileBytes(fileId), `${id} ${kind}`).toBe(Buffer.byteLength(expected));
      }
    }
  });

  it('finishes the unfinished batches on the new code: every line answered once, the files in input order, the cancelling one cancelled', async () => {
    const { database, before, app, get } = upgraded;
    const { db } = database;
    const ended = await endedBatches(upgraded);

    // A gateway of the new release takes over the validation the stopped one left.
    await app.validator.sweep();
    await app.validator.idle();
    expect((await get<BatchObject>(`/v1/batches/${B.validating}`)).status).toBe('in_progress');

    // A worker of the new release drains the queue (the engine refuses every fourth line) and
    // settles the batches its writes finish, as fleet/worker/settle.ts does.
    const worker = 'worker_new_release';
    const ran = new Map<string, number>();
    for (const model of ['sim-model', MODEL_B]) {
      for (;;) {
        const leased = await leaseRequests(db, { owner: worker, model, limit: 128, leaseMs: 60_000 });
        if (leased.length === 0) break;
        for (const r of leased) ran.set(`${r.batchId}:${r.line}`, (ran.get(`${r.batchId}:${r.line}`) ?? 0) + 1);
        const counters = await completeRequests(db, worker, leased.map(newResult));
        for (const c of counters) if (c.status === 'in_progress' && c.completed + c.failed >= c.total) await settleBatch(db, c.batchId);
      }
    }
    // Its sweeper: batches that time moved on (cancelling, past their window, stuck finalizing),
    // and those answered but never settled.
    await sweepBatches(db);
    for (const id of await unsettledBatches(db)) await settleBatch(db, id);

    // Exactly the lines nobody had answered, each once: none of those answered before the upgrade
    // runs again, and the stopping batches' lines are not run at all.
    const unanswered = [B.running, B.twoModels].flatMap((id) => before.unfinished.get(id)!.map((at) => `${id}:${at.split(':')[0]}`));
    expect([...ran.keys()].sort()).toEqual([...unanswered, ...lines(1, VALIDATING_LINES).map((l) => `${B.validating}:${l}`)].sort());
    expect(
      [...ran.values()].every((n) => n === 1),
      'each line leased once',
    ).toBe(true);
    await expectFinished(upgraded, ended);
  });
});

/** The new worker's result for a leased line: a completion, or the engine's 400 for every fourth line. */
function newResult(r: LeasedRequest): RequestResult {
  const refused = r.line % 4 === 0;
  return {
    id: r.id,
    rangeId: r.rangeId,
    batchId: r.batchId,
    line: r.line,
    startedAtMs: Date.now(),
    status: refused ? 'failed' : 'succeeded',
    statusCode: refused ? 400 : 200,
    response: refused
      ? JSON.stringify({ object: 'error', message: 'bad request', type: 'BadRequestError', code: 400 })
      : JSON.stringify({
          id: `chatcmpl-new-${r.line}`,
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: `new answer ${r.line}` } }],
        }),
    engineRequestId: refused ? null : `chatcmpl-new-${r.line}`,
    error: null,
    promptTokens: refused ? null : 7,
    completionTokens: refused ? null : 11,
  };
}
