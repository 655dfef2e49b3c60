import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import {
  completeRequests,
  createDatabase,
  leaseRequests,
  rows,
  runMigrations,
  settleBatch,
  sweepBatches,
  unsettledBatches,
  type Database,
  type LeasedRequest,
  type RequestResult,
} from '../../schema/index.ts';
import { createTestDatabase, dropTestDatabase, DRIVERS, type TestDatabase } from '../helpers/database.ts';
import {
  countAsPrevious,
  finalizeAsPrevious,
  FINISHED_STATUSES,
  GONE_WORKER,
  lines,
  OWNER,
  previousBatch,
  previousReleaseSchema,
  previousRequests,
  previousResultLines,
  storeInputFile,
} from './upgrade-fixtures.ts';

// A database as the release before range leases left it when its fleet was stopped for the
// upgrade: batches in every state, some lines answered, some queued, some leased by a worker
// that is gone. Migrated by the current runMigrations, then finished by the new statements.
const B = {
  validating: 'batch_prev_validating',
  running: 'batch_prev_running',
  answered: 'batch_prev_answered',
  twoModels: 'batch_prev_two_models',
  cancelling: 'batch_prev_cancelling',
  expiring: 'batch_prev_expiring',
  finalizing: 'batch_prev_finalizing',
  completed: 'batch_prev_completed',
  failed: 'batch_prev_failed',
  expired: 'batch_prev_expired',
  cancelled: 'batch_prev_cancelled',
} as const;
const ALL = Object.values(B);
/** Batches that ended before the upgrade: nothing about them may change. */
const ENDED: string[] = [B.completed, B.failed, B.expired, B.cancelled];
/** Batches with lines not yet answered when the fleet stopped (they alone get ranges). */
const UNFINISHED = [B.running, B.twoModels, B.cancelling, B.expiring];
const MODEL_B = 'sim-model-b';
const VALIDATING_LINES = 3;

async function buildPreviousRelease(database: Database) {
  await previousReleaseSchema(database);
  const requests = (id: string, at: number[], state: Parameters<typeof previousRequests>[3], model?: string) => previousRequests(database, id, at, state, model);

  // Out of order, as the previous release's workers answered: lines 300–309 before 131–299.
  await previousBatch(database, { id: B.running, status: 'in_progress', total: 600, priority: 2 });
  await requests(B.running, lines(1, 90), 'succeeded');
  await requests(B.running, lines(91, 95), 'failed');
  await requests(B.running, lines(96, 100), 'unanswered');
  await requests(B.running, [...lines(101, 130), ...lines(310, 319)], 'leased');
  await requests(B.running, [...lines(131, 299), ...lines(320, 600)], 'queued');
  await requests(B.running, lines(300, 309), 'succeeded');

  // Odd lines for one model, even lines for another.
  await previousBatch(database, { id: B.twoModels, status: 'in_progress', total: 40 });
  for (const [model, parity] of [['sim-model', 1], [MODEL_B, 0]] as const) {
    const of = (at: number[]) => at.filter((l) => l % 2 === parity);
    await requests(B.twoModels, of(lines(1, 10)), 'succeeded', model);
    await requests(B.twoModels, of(lines(11, 12)), 'leased', model);
    await requests(B.twoModels, of(lines(13, 40)), 'queued', model);
  }

  // Every line answered; the worker that wrote the last one was stopped before it settled the batch.
  await previousBatch(database, { id: B.answered, status: 'in_progress', total: 3 });
  await requests(B.answered, lines(1, 2), 'succeeded');
  await requests(B.answered, [3], 'failed');

  // Cancelled while line 6 ran: the previous release ended the queued lines at once.
  await previousBatch(database, { id: B.cancelling, status: 'cancelling', total: 20 });
  await requests(B.cancelling, lines(1, 5), 'succeeded');
  await requests(B.cancelling, [6], 'leased');
  await requests(B.cancelling, [7], 'failed');
  await requests(B.cancelling, lines(8, 20), 'cancelled');

  // Its completion window ended while the fleet was stopped.
  await previousBatch(database, { id: B.expiring, status: 'in_progress', total: 10, expiredSecondsAgo: 60 });
  await requests(B.expiring, lines(1, 3), 'succeeded');
  await requests(B.expiring, [4], 'leased');
  await requests(B.expiring, lines(5, 10), 'queued');

  // Every line answered; its finalizer was stopped before it wrote the files.
  await previousBatch(database, { id: B.finalizing, status: 'finalizing', total: 5 });
  await requests(B.finalizing, lines(1, 4), 'succeeded');
  await requests(B.finalizing, [5], 'failed');

  await previousBatch(database, { id: B.completed, status: 'completed', total: 6 });
  await requests(B.completed, lines(1, 5), 'succeeded');
  await requests(B.completed, [6], 'unanswered');

  await previousBatch(database, { id: B.failed, status: 'failed', total: 0 });

  await previousBatch(database, { id: B.expired, status: 'expired', total: 4 });
  await requests(B.expired, lines(1, 2), 'succeeded');
  await requests(B.expired, lines(3, 4), 'expired');

  await previousBatch(database, { id: B.cancelled, status: 'cancelled', total: 4 });
  await requests(B.cancelled, [1], 'succeeded');
  await requests(B.cancelled, lines(2, 4), 'cancelled');

  for (const id of ALL) await countAsPrevious(database, id);
  for (const id of [B.completed, B.expired, B.cancelled]) await finalizeAsPrevious(database, id);

  // Being validated by a gateway that was stopped: its validation lease ran out.
  await previousBatch(database, { id: B.validating, status: 'validating', total: 0 });
  const input = lines(1, VALIDATING_LINES).map((l) =>
    JSON.stringify({ custom_id: `req-${l}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'sim-model', messages: [{ role: 'user', content: `question ${l}` }] } }),
  );
  await storeInputFile(database, B.validating, `${input.join('\n')}\n`);
  await database.db.execute(sql`
    update batches set validation_owner = 'validator_previous_release', validation_expires_at = now() - interval '1 minute', validation_attempts = 1
    where id = ${B.validating}`);

  await database.db.execute(sql`
    insert into workers (id, host, gpu, pid, model, engine_url, status, capacity, in_flight, completed, heartbeat_at)
    values (${GONE_WORKER}, 'gpu-host-1', '0', 4242, 'sim-model', 'http://127.0.0.1:8000', 'stopped', 64, 0, 105, now() - interval '5 minutes')`);
}

/** What the previous release's database held, read before the migration. */
interface Before {
  /** Every finished request's result columns, as text. */
  finished: Record<string, unknown>[];
  /** Lines without a result, per batch: `line:model`. */
  unfinished: Map<string, string[]>;
  counters: Map<string, { total: number; completed: number; failed: number; promptTokens: number; completionTokens: number }>;
  /** The result lines the previous release served, per batch and file. */
  resultLines: Map<string, { output: Map<string, string>; error: Map<string, string> }>;
}

const RESULT_COLUMNS = sql`batch_id as "batchId", line, status, status_code as "statusCode", response, engine_request_id as "engineRequestId",
  error::text as error, prompt_tokens as "promptTokens", completion_tokens as "completionTokens",
  started_at::text as "startedAt", finished_at::text as "finishedAt"`;

async function readBefore(database: Database): Promise<Before> {
  const { db } = database;
  const finished = await rows<Record<string, unknown>>(
    db,
    sql`select ${RESULT_COLUMNS}, greatest(attempts, 1) as attempts from requests
        where status in (${sql.join(FINISHED_STATUSES.map((s) => sql`${s}`), sql`, `)}) order by batch_id, line`,
  );
  const open = await rows<{ batchId: string; at: string }>(
    db,
    sql`select batch_id as "batchId", line || ':' || model as at from requests where status in ('queued', 'leased') order by batch_id, line`,
  );
  const unfinished = new Map<string, string[]>();
  for (const { batchId, at } of open) unfinished.set(batchId, [...(unfinished.get(batchId) ?? []), at]);
  const counted = await rows<{ id: string; total: number; completed: number; failed: number; promptTokens: number; completionTokens: number }>(
    db,
    sql`select id, total, completed, failed, prompt_tokens::float8 as "promptTokens", completion_tokens::float8 as "completionTokens" from batches`,
  );
  const resultLines = new Map<string, { output: Map<string, string>; error: Map<string, string> }>();
  for (const id of ALL) {
    resultLines.set(id, { output: await previousResultLines(database, id, 'output'), error: await previousResultLines(database, id, 'error') });
  }
  return { finished, unfinished, counters: new Map(counted.map(({ id, ...c }) => [id, c])), resultLines };
}

/** The OpenAI batch object, as far as these tests read it. */
interface BatchObject {
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  request_counts: { total: number; completed: number; failed: number };
  usage: { input_tokens: number; output_tokens: number };
}

/** A result file line as a user reads it. */
interface ResultLine {
  custom_id: string;
  response: { status_code: number } | null;
  error: { code: string } | null;
}

describe.each(DRIVERS)('a database made by the release before range leases, upgraded on %s', (driver) => {
  let pg: TestDatabase | undefined;
  let database: Database;
  let before: Before;
  let app: ReturnType<typeof createApp>;

  const get = async <T,>(path: string): Promise<T> => {
    const response = await app.fetch(new Request(`http://localhost${path}`));
    expect(response.status, path).toBe(200);
    return (await response.json()) as T;
  };
  const download = async (fileId: string | null) => (fileId === null ? '' : await (await app.fetch(new Request(`http://localhost/v1/files/${fileId}/content`))).text());
  const fileBytes = async (fileId: string | null) => (fileId === null ? 0 : (await get<{ bytes: number }>(`/v1/files/${fileId}`)).bytes);

  beforeAll(async () => {
    pg = driver === 'postgres' ? await createTestDatabase() : undefined;
    database = pg?.database ?? (await createDatabase({ dataDir: 'memory://' }));
    await buildPreviousRelease(database);
    before = await readBefore(database);
    await runMigrations(database);
    app = createApp({ config: loadGatewayConfig({}), database, logger: createLogger({ level: 'silent' }) });
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    if (pg) await dropTestDatabase(pg);
    else await database?.close();
  });

  it('keeps every finished request as a result with the same status, bytes, tokens and times', async () => {
    const results = await rows<Record<string, unknown>>(database.db, sql`select ${RESULT_COLUMNS}, attempts from results order by batch_id, line`);
    expect(results.length).toBe(before.finished.length);
    expect(results).toEqual(before.finished);
  });

  it('queues the unfinished lines (queued, or leased by the stopped worker) in open ranges that no worker holds', async () => {
    for (const id of UNFINISHED) {
      const queued = await rows<{ at: string }>(
        database.db,
        sql`select line || ':' || model as at from request_states where batch_id = ${id} and status = 'queued' order by line`,
      );
      expect(queued.map((q) => q.at), id).toEqual(before.unfinished.get(id));
      const ranges = await rows<{ model: string; size: number; leased: boolean; finished: boolean; attempts: number; counted: number; owner: string; priority: number }>(
        database.db,
        sql`select model, size, lease_owner is not null as leased, finished_at is not null as finished, attempts,
              (succeeded + failed + prompt_tokens + completion_tokens)::int as counted, owner, priority
            from request_ranges where batch_id = ${id}`,
      );
      expect(ranges.every((r) => !r.leased && !r.finished && r.attempts === 0 && r.counted === 0 && r.owner === OWNER), id).toBe(true);
      expect(ranges.reduce((n, r) => n + r.size, 0), id).toBe(before.unfinished.get(id)?.length);
      // Cut as ingest cuts a new batch: per model, ceil(lines / 256) lines a range.
      for (const model of new Set(ranges.map((r) => r.model))) {
        const open = before.unfinished.get(id)!.filter((at) => at.endsWith(`:${model}`)).length;
        expect(Math.max(...ranges.filter((r) => r.model === model).map((r) => r.size)), `${id} ${model}`).toBe(Math.ceil(open / 256));
      }
    }
    const [running] = await rows<{ priority: number }>(database.db, sql`select distinct priority from request_ranges where batch_id = ${B.running}`);
    expect(running?.priority).toBe(2);
    const elsewhere = await rows<{ batchId: string }>(
      database.db,
      sql`select distinct batch_id as "batchId" from request_ranges where batch_id not in (${sql.join(UNFINISHED.map((id) => sql`${id}`), sql`, `)})`,
    );
    expect(elsewhere).toEqual([]);
    const leased = await rows<{ n: number }>(database.db, sql`select count(*)::int as n from request_states where status = 'leased'`);
    expect(leased[0]?.n).toBe(0);
  });

  it('shows every batch with the counters and usage it had, and serves the ended batches\' result files byte for byte', async () => {
    for (const id of ALL) {
      const batch = await get<BatchObject>(`/v1/batches/${id}`);
      const was = before.counters.get(id)!;
      expect(batch.request_counts, id).toEqual({ total: was.total, completed: was.completed, failed: was.failed });
      expect(batch.usage, id).toMatchObject({ input_tokens: was.promptTokens, output_tokens: was.completionTokens });
    }
    for (const id of [B.completed, B.expired, B.cancelled]) {
      const batch = await get<BatchObject>(`/v1/batches/${id}`);
      const previous = before.resultLines.get(id)!;
      for (const [fileId, kind] of [[batch.output_file_id, 'output'], [batch.error_file_id, 'error']] as const) {
        const expected = [...previous[kind].values()].join('');
        expect(expected, `${id} ${kind}`).not.toBe('');
        expect(await download(fileId), `${id} ${kind}`).toBe(expected);
        expect(await fileBytes(fileId), `${id} ${kind}`).toBe(Buffer.byteLength(expected));
      }
    }
  });

  it('finishes the unfinished batches on the new code: every line answered once, the files in input order, the cancelling one cancelled', async () => {
    const { db } = database;
    const ended = new Map<string, BatchObject>();
    for (const id of ENDED) ended.set(id, await get<BatchObject>(`/v1/batches/${id}`));

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
    expect([...ran.values()].every((n) => n === 1), 'each line leased once').toBe(true);

    const expected: Record<string, string> = {
      [B.validating]: 'completed',
      [B.running]: 'completed',
      [B.answered]: 'completed',
      [B.twoModels]: 'completed',
      [B.cancelling]: 'cancelled',
      [B.expiring]: 'expired',
      [B.finalizing]: 'completed',
      [B.completed]: 'completed',
      [B.failed]: 'failed',
      [B.expired]: 'expired',
      [B.cancelled]: 'cancelled',
    };
    for (const id of ALL) {
      const batch = await get<BatchObject>(`/v1/batches/${id}`);
      expect(batch.status, id).toBe(expected[id]);
      if (ENDED.includes(id)) {
        expect(batch, id).toEqual(ended.get(id));
        continue;
      }
      const total = batch.request_counts.total;
      expect(total, id).toBe(id === B.validating ? VALIDATING_LINES : before.counters.get(id)!.total);

      const output = await download(batch.output_file_id);
      const errors = await download(batch.error_file_id);
      expect(await fileBytes(batch.output_file_id), id).toBe(Buffer.byteLength(output));
      expect(await fileBytes(batch.error_file_id), id).toBe(Buffer.byteLength(errors));
      const parsed = (text: string) => text.split('\n').filter(Boolean).map((l) => ({ raw: `${l}\n`, line: JSON.parse(l) as ResultLine }));
      const outputLines = parsed(output);
      const errorLines = parsed(errors);
      for (const file of [outputLines, errorLines]) {
        const order = file.map((l) => Number(l.line.custom_id.slice('req-'.length)));
        expect(order, `${id} in input order`).toEqual([...order].sort((a, b) => a - b));
      }
      const everyLine = [...outputLines, ...errorLines].map((l) => l.line.custom_id).sort();
      expect(everyLine, `${id}: every line exactly once`).toEqual(lines(1, total).map((l) => `req-${l}`).sort());

      // The lines answered before the upgrade read exactly as the previous release served them.
      const previous = before.resultLines.get(id)!;
      for (const [kind, file] of [['output', outputLines], ['error', errorLines]] as const) {
        const served = new Map(file.map((l) => [l.line.custom_id, l.raw]));
        for (const [customId, text] of previous[kind]) expect(served.get(customId), `${id} ${customId}`).toBe(text);
      }

      // The counters are the previous release's plus the new code's, and agree with the files.
      const stopped = errorLines.filter((l) => l.line.error?.code === 'batch_cancelled' || l.line.error?.code === 'batch_expired').length;
      expect(batch.request_counts, id).toEqual({ total, completed: outputLines.length, failed: errorLines.length - stopped });
      const [tokens] = await rows<{ input: number; output: number }>(
        db,
        sql`select coalesce(sum(prompt_tokens), 0)::float8 as input, coalesce(sum(completion_tokens), 0)::float8 as output from results where batch_id = ${id}`,
      );
      expect(batch.usage, id).toMatchObject({ input_tokens: tokens?.input, output_tokens: tokens?.output });
    }

    // The line that was running when the batch was cancelled is cancelled, with those the previous release cancelled.
    const cancelled = await rows<{ line: number }>(db, sql`select line from results where batch_id = ${B.cancelling} and status = 'cancelled' order by line`);
    expect(cancelled.map((c) => c.line)).toEqual([6, ...lines(8, 20)]);
    const open = await rows<{ n: number }>(db, sql`select count(*)::int as n from request_ranges where finished_at is null`);
    expect(open[0]?.n).toBe(0);
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
      : JSON.stringify({ id: `chatcmpl-new-${r.line}`, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: `new answer ${r.line}` } }] }),
    engineRequestId: refused ? null : `chatcmpl-new-${r.line}`,
    error: null,
    promptTokens: refused ? null : 7,
    completionTokens: refused ? null : 11,
  };
}
