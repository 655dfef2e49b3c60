import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { createDatabase, rows, runMigrations, type Database } from '../../schema/index.ts';
import { createTestDatabase, dropTestDatabase, type TestDatabase } from '../helpers/database.ts';
import {
  countAsPrevious,
  finalizeAsPrevious,
  FINISHED_STATUSES,
  GONE_WORKER,
  lines,
  previousBatch,
  previousReleaseSchema,
  previousRequests,
  previousResultLines,
  storeInputFile,
  type PreviousState,
} from './upgrade-fixtures.ts';

// A database as the release before range leases left it when it was stopped for the upgrade:
// batches in every state, some lines answered, some queued, some leased by a worker that is gone.

/** The previous release's batches, by the state they were in. */
export const B = {
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
export const ALL: string[] = Object.values(B);
/** Batches that ended before the upgrade: nothing about them may change. */
export const ENDED: string[] = [B.completed, B.failed, B.expired, B.cancelled];
/** Batches with lines not yet answered when the fleet stopped (they alone get ranges). */
export const UNFINISHED: string[] = [B.running, B.twoModels, B.cancelling, B.expiring];
/** The second model of {@link B.twoModels} (its even lines). */
export const MODEL_B = 'sim-model-b';
export const VALIDATING_LINES = 3;

/** The status each batch ends in once the new release has finished them. */
export const FINAL_STATUS: Record<string, string> = {
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

/** Builds the previous release's schema and its batches. */
async function buildPreviousRelease(database: Database) {
  await previousReleaseSchema(database);
  const requests = (id: string, at: number[], state: PreviousState, model?: string) => previousRequests(database, id, at, state, model);

  // Out of order, as the previous release's workers answered: lines 300–309 before 131–299.
  await previousBatch(database, { id: B.running, status: 'in_progress', total: 600, priority: 2 });
  await requests(B.running, lines(1, 90), 'succeeded');
  await requests(B.running, lines(91, 95), 'failed');
  await requests(B.running, lines(96, 100), 'unanswered');
  await requests(B.running, [...lines(101, 130), ...lines(310, 319)], 'leased');
  await requests(B.running, [...lines(131, 299), ...lines(320, 600)], 'queued');
  await requests(B.running, lines(300, 309), 'succeeded');

  // Every line answered; the worker that wrote the last one was stopped before it settled the batch.
  await previousBatch(database, { id: B.answered, status: 'in_progress', total: 3 });
  await requests(B.answered, lines(1, 2), 'succeeded');
  await requests(B.answered, [3], 'failed');

  // Odd lines for one model, even lines for another.
  await previousBatch(database, { id: B.twoModels, status: 'in_progress', total: 40 });
  for (const [model, parity] of [
    ['sim-model', 1],
    [MODEL_B, 0],
  ] as const) {
    const of = (at: number[]) => at.filter((l) => l % 2 === parity);
    await requests(B.twoModels, of(lines(1, 10)), 'succeeded', model);
    await requests(B.twoModels, of(lines(11, 12)), 'leased', model);
    await requests(B.twoModels, of(lines(13, 40)), 'queued', model);
  }

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
    JSON.stringify({
      custom_id: `req-${l}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'sim-model', messages: [{ role: 'user', content: `question ${l}` }] },
    }),
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
export interface Before {
  /** Every finished request's result columns, as text. */
  finished: Record<string, unknown>[];
  /** Lines without a result, per batch: `line:model`. */
  unfinished: Map<string, string[]>;
  counters: Map<string, { total: number; completed: number; failed: number; promptTokens: number; completionTokens: number }>;
  /** The result lines the previous release served, per batch and file. */
  resultLines: Map<string, { output: Map<string, string>; error: Map<string, string> }>;
}

/** A result's columns, as text where a driver could read them differently: from `requests` before, from `results` after. */
export const RESULT_COLUMNS = sql`batch_id as "batchId", line, status, status_code as "statusCode", response, engine_request_id as "engineRequestId",
  error::text as error, prompt_tokens as "promptTokens", completion_tokens as "completionTokens",
  started_at::text as "startedAt", finished_at::text as "finishedAt"`;

async function readBefore(database: Database): Promise<Before> {
  const { db } = database;
  const finished = await rows<Record<string, unknown>>(
    db,
    sql`select ${RESULT_COLUMNS}, greatest(attempts, 1) as attempts from requests
        where status in (${sql.join(
          FINISHED_STATUSES.map((s) => sql`${s}`),
          sql`, `,
        )}) order by batch_id, line`,
  );
  const open = await rows<{ batchId: string; at: string }>(
    db,
    sql`select batch_id as "batchId", line || ':' || model as at from requests where status in ('queued', 'leased') order by batch_id, line`,
  );
  const unfinished = new Map<string, string[]>();
  for (const { batchId, at } of open) unfinished.set(batchId, [...(unfinished.get(batchId) ?? []), at]);
  const counted = await rows<{
    id: string;
    total: number;
    completed: number;
    failed: number;
    promptTokens: number;
    completionTokens: number;
  }>(
    db,
    sql`select id, total, completed, failed, prompt_tokens::float8 as "promptTokens", completion_tokens::float8 as "completionTokens" from batches`,
  );
  const resultLines = new Map<string, { output: Map<string, string>; error: Map<string, string> }>();
  for (const id of ALL) {
    resultLines.set(id, {
      output: await previousResultLines(database, id, 'output'),
      error: await previousResultLines(database, id, 'error'),
    });
  }
  return { finished, unfinished, counters: new Map(counted.map(({ id, ...c }) => [id, c])), resultLines };
}

/** The OpenAI batch object, as far as these tests read it. */
export interface BatchObject {
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

/** The previous release's database, migrated by the current runMigrations, and a gateway of the new release on it. */
export interface Upgraded {
  database: Database;
  /** Its URL, for processes of the new release (Postgres only). */
  url: string | undefined;
  before: Before;
  app: ReturnType<typeof createApp>;
  /** GETs a REST path as the keyless owner, expecting a 200. */
  get<T>(path: string): Promise<T>;
  /** A file's content, '' for no file. */
  download(fileId: string | null): Promise<string>;
  /** A file's `bytes`, 0 for no file. */
  fileBytes(fileId: string | null): Promise<number>;
  close(): Promise<void>;
}

/** Builds the previous release's database (a Postgres clone, or an in-memory PGlite), reads it, and migrates it. */
export async function upgradedDatabase(driver: 'postgres' | 'pglite'): Promise<Upgraded> {
  const pg: TestDatabase | undefined = driver === 'postgres' ? await createTestDatabase() : undefined;
  const database = pg?.database ?? (await createDatabase({ dataDir: 'memory://' }));
  await buildPreviousRelease(database);
  const before = await readBefore(database);
  await runMigrations(database);
  const app = createApp({ config: loadGatewayConfig({}), database, logger: createLogger({ level: 'silent' }) });
  const get = async <T>(path: string): Promise<T> => {
    const response = await app.fetch(new Request(`http://localhost${path}`));
    expect(response.status, path).toBe(200);
    return (await response.json()) as T;
  };
  return {
    database,
    url: pg?.url,
    before,
    app,
    get,
    download: async (fileId) =>
      fileId === null ? '' : await (await app.fetch(new Request(`http://localhost/v1/files/${fileId}/content`))).text(),
    fileBytes: async (fileId) => (fileId === null ? 0 : (await get<{ bytes: number }>(`/v1/files/${fileId}`)).bytes),
    async close() {
      await app.close();
      if (pg) await dropTestDatabase(pg);
      else await database.close();
    },
  };
}

/**
 * Checks what a user sees once the new release has finished the previous release's batches:
 * each batch in its final status (the ended ones exactly as `ended` showed them), every line
 * of a batch exactly once across its output and error files, each file in input order, the
 * lines answered before the upgrade byte for byte as the previous release served them, the
 * files' sizes right, and request counts and usage that agree with the results.
 */
export async function expectFinished(upgraded: Upgraded, ended: Map<string, BatchObject>): Promise<void> {
  const { before, get, download, fileBytes, database } = upgraded;
  for (const id of ALL) {
    const batch = await get<BatchObject>(`/v1/batches/${id}`);
    expect(batch.status, id).toBe(FINAL_STATUS[id]);
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
    const parsed = (text: string) =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => ({ raw: `${l}\n`, line: JSON.parse(l) as ResultLine }));
    const outputLines = parsed(output);
    const errorLines = parsed(errors);
    for (const file of [outputLines, errorLines]) {
      const order = file.map((l) => Number(l.line.custom_id.slice('req-'.length)));
      expect(order, `${id} in input order`).toEqual([...order].sort((a, b) => a - b));
    }
    const everyLine = [...outputLines, ...errorLines].map((l) => l.line.custom_id).sort();
    expect(everyLine, `${id}: every line exactly once`).toEqual(
      lines(1, total)
        .map((l) => `req-${l}`)
        .sort(),
    );

    const previous = before.resultLines.get(id)!;
    for (const [kind, file] of [
      ['output', outputLines],
      ['error', errorLines],
    ] as const) {
      const served = new Map(file.map((l) => [l.line.custom_id, l.raw]));
      for (const [customId, text] of previous[kind]) expect(served.get(customId), `${id} ${customId}`).toBe(text);
    }

    // Cancelled and expired lines are in the error file but not counted as failed (as OpenAI counts).
    const stopped = errorLines.filter((l) => l.line.error?.code === 'batch_cancelled' || l.line.error?.code === 'batch_expired').length;
    expect(batch.request_counts, id).toEqual({ total, completed: outputLines.length, failed: errorLines.length - stopped });
    const [tokens] = await rows<{ input: number; output: number }>(
      database.db,
      sql`select coalesce(sum(prompt_tokens), 0)::float8 as input, coalesce(sum(completion_tokens), 0)::float8 as output from results where batch_id = ${id}`,
    );
    expect(batch.usage, id).toMatchObject({ input_tokens: tokens?.input, output_tokens: tokens?.output });
  }

  // The line that was running when the batch was cancelled is cancelled, with those the previous release cancelled.
  const cancelled = await rows<{ line: number }>(
    database.db,
    sql`select line from results where batch_id = ${B.cancelling} and status = 'cancelled' order by line`,
  );
  expect(cancelled.map((c) => c.line)).toEqual([6, ...lines(8, 20)]);
  const open = await rows<{ n: number }>(database.db, sql`select count(*)::int as n from request_ranges where finished_at is null`);
  expect(open[0]?.n).toBe(0);
}

/** The ended batches as the API shows them, to compare once the rest are finished. */
export async function endedBatches(upgraded: Upgraded): Promise<Map<string, BatchObject>> {
  const ended = new Map<string, BatchObject>();
  for (const id of ENDED) ended.set(id, await upgraded.get<BatchObject>(`/v1/batches/${id}`));
  return ended;
}
