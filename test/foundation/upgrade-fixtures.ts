import { fileURLToPath } from 'node:url';
import { sql, type SQL } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { rows, type Database } from '../../schema/index.ts';

/**
 * The migrations of the release before range leases (0000–0003 and their journal, as committed
 * at f471e0f): a database made by that release, whatever later commits do to schema/migrations.
 */
export const PREVIOUS_MIGRATIONS = fileURLToPath(new URL('../fixtures/migrations-before-range-leases', import.meta.url));

/** The owner of every fixture batch: the gateway's owner when it has no API keys. */
export const OWNER = 'local';
/** A worker of the previous release, stopped for the upgrade while it held leases. */
export const GONE_WORKER = 'worker_previous_release';

/**
 * Empties the database and gives it the previous release's schema, applied and recorded as
 * runMigrations records them (drizzle's table, the hash and `when` of each), so that the
 * current runMigrations finds 0000–0003 applied and runs only what came after.
 */
export async function previousReleaseSchema(database: Database): Promise<void> {
  await applyMigrations(database, readMigrationFiles({ migrationsFolder: PREVIOUS_MIGRATIONS }));
}

/**
 * Empties the database and applies the given migrations, recorded as runMigrations records them
 * (drizzle's table, the hash and `when` of each), so that runMigrations runs only what came after.
 */
export async function applyMigrations(database: Database, migrations: ReturnType<typeof readMigrationFiles>): Promise<void> {
  const { db } = database;
  await db.execute(sql`drop schema if exists drizzle cascade`);
  await db.execute(sql`drop schema public cascade`);
  await db.execute(sql`create schema public`);
  await db.execute(sql`create schema drizzle`);
  await db.execute(sql`create table drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)`);
  for (const migration of migrations) {
    for (const statement of migration.sql) await db.execute(sql.raw(statement));
    await db.execute(
      sql`insert into drizzle.__drizzle_migrations (hash, created_at) values (${migration.hash}, ${migration.folderMillis})`,
    );
  }
}

/** How a request of the previous release stood when its fleet was stopped. */
export type PreviousState = 'succeeded' | 'failed' | 'unanswered' | 'leased' | 'queued' | 'cancelled' | 'expired';

/** The statuses the previous release stored for a request that has its result. */
export const FINISHED_STATUSES = ['succeeded', 'failed', 'cancelled', 'expired'] as const;

// Each state's columns, as the previous release's statements left them (complete-requests,
// reap-leases, settle-batch, stop-requests at f471e0f). `l` is the line.
const STARTED = sql`timestamptz '2026-12-03 10:00:00+00' + make_interval(secs => l)`;
const FINISHED = sql`timestamptz '2026-12-03 10:00:00+00' + make_interval(secs => l + 0.25)`;
const COLUMNS: Record<PreviousState, SQL> = {
  succeeded: sql`'succeeded', 1, ${GONE_WORKER}, null::timestamptz, 200,
    '{"id":"chatcmpl-' || l || '","object":"chat.completion","model":"sim-model","choices":[{"index":0,"message":{"role":"assistant","content":"answer ' || l || ' \\"quoted\\" é ✓"},"finish_reason":"stop"}],"usage":{"prompt_tokens":' || (10 + l % 5) || ',"completion_tokens":' || (20 + l % 7) || '}}',
    case when l % 3 = 0 then null else 'chatcmpl-' || l end, null::jsonb, 10 + l % 5, 20 + l % 7, ${STARTED}, ${FINISHED}`,
  failed: sql`'failed', 1, ${GONE_WORKER}, null::timestamptz, 400,
    '{"object":"error","message":"This model''s maximum context length is 2048 tokens.","type":"BadRequestError","param":null,"code":400}',
    'cmpl-' || l, null::jsonb, null::int, null::int, ${STARTED}, ${FINISHED}`,
  unanswered: sql`'failed', 3, ${GONE_WORKER}, null::timestamptz, null::int, null::text, null::text,
    '{"code":"too_many_attempts","message":"The request was leased 3 times without an answer."}'::jsonb, null::int, null::int, ${STARTED}, ${FINISHED}`,
  leased: sql`'leased', 1, ${GONE_WORKER}, now() + interval '40 seconds', null::int, null::text, null::text, null::jsonb, null::int, null::int, ${STARTED}, null::timestamptz`,
  queued: sql`'queued', case when l % 10 = 0 then 1 else 0 end, null::text, null::timestamptz, null::int, null::text, null::text, null::jsonb, null::int, null::int, null::timestamptz, null::timestamptz`,
  cancelled: sql`'cancelled', 0, null::text, null::timestamptz, null::int, null::text, null::text,
    '{"code":"batch_cancelled","message":"The batch was cancelled before this request was executed."}'::jsonb, null::int, null::int, null::timestamptz, ${FINISHED}`,
  expired: sql`'expired', 0, null::text, null::timestamptz, null::int, null::text, null::text,
    '{"code":"batch_expired","message":"This request could not be executed before the completion window expired."}'::jsonb, null::int, null::int, null::timestamptz, ${FINISHED}`,
};

/** The lines from `first` to `last`, both included. */
export const lines = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

/** Stores requests of a batch in the previous release's `requests` columns, in the given state. */
export async function previousRequests(
  database: Database,
  batchId: string,
  at: number[],
  state: PreviousState,
  model = 'sim-model',
): Promise<void> {
  await database.db.execute(sql`
    insert into requests (batch_id, line, custom_id, model, body, priority, status, attempts, lease_owner, lease_expires_at,
      status_code, response, engine_request_id, error, prompt_tokens, completion_tokens, started_at, finished_at)
    select ${batchId}, l, 'req-' || l, ${model},
      '{"model":' || to_json(${model}::text)::text || ',"messages":[{"role":"user","content":"question ' || l || '"}]}',
      (select priority from batches where id = ${batchId}), ${COLUMNS[state]}
    from unnest(${`{${at.join(',')}}`}::int[]) l`);
}

/** Options for {@link previousBatch}. */
export interface PreviousBatch {
  id: string;
  status: 'validating' | 'in_progress' | 'cancelling' | 'finalizing' | 'completed' | 'failed' | 'expired' | 'cancelled';
  total: number;
  priority?: number;
  /** Its completion window ended this many seconds ago (an in-progress batch the new fleet expires). */
  expiredSecondsAgo?: number;
}

/** Stores a batch row and its input file row as the previous release did; its counters come from {@link countAsPrevious}. */
export async function previousBatch(
  database: Database,
  { id, status, total, priority = 0, expiredSecondsAgo }: PreviousBatch,
): Promise<void> {
  const { db } = database;
  const input = `file-in-${id}`;
  await db.execute(
    sql`insert into files (id, owner, purpose, filename, bytes, lines) values (${input}, ${OWNER}, 'batch', ${`${id}.jsonl`}, 0, ${total})`,
  );
  const expiresAt =
    expiredSecondsAgo === undefined ? sql`now() + interval '20 hours'` : sql`now() - make_interval(secs => ${expiredSecondsAgo})`;
  const stamp: Record<PreviousBatch['status'], SQL> = {
    validating: sql``,
    in_progress: sql`in_progress_at = now() - interval '1 hour',`,
    cancelling: sql`in_progress_at = now() - interval '1 hour', cancelling_at = now() - interval '1 minute',`,
    finalizing: sql`in_progress_at = now() - interval '1 hour', finalizing_at = now() - interval '10 minutes',`,
    completed: sql`in_progress_at = now() - interval '2 hours', finalizing_at = now() - interval '1 hour', completed_at = now() - interval '1 hour',`,
    failed: sql`failed_at = now() - interval '3 hours', errors = '[{"line":2,"code":"invalid_json","param":null,"message":"Line 2 is not valid JSON."}]'::jsonb,`,
    expired: sql`in_progress_at = now() - interval '30 hours', expired_at = now() - interval '6 hours',`,
    cancelled: sql`in_progress_at = now() - interval '2 hours', cancelling_at = now() - interval '90 minutes', cancelled_at = now() - interval '90 minutes',`,
  };
  await db.execute(sql`
    insert into batches (id, owner, endpoint, model, completion_window, status, input_file_id, priority, total, expires_at, created_at)
    values (${id}, ${OWNER}, '/v1/chat/completions', ${status === 'validating' || status === 'failed' ? null : 'sim-model'}, '24h', ${status}, ${input},
      ${priority}, ${total}, ${expiresAt}, now() - interval '3 hours')`);
  await db.execute(sql`update batches set ${stamp[status]} metadata = '{"fixture":"previous release"}'::jsonb where id = ${id}`);
}

/** Sets a batch row's counters as the previous release's result writes and reaps had bumped them. */
export async function countAsPrevious(database: Database, batchId: string): Promise<void> {
  await database.db.execute(sql`
    update batches b set
      completed = (select count(*) from requests where batch_id = b.id and status = 'succeeded'),
      failed = (select count(*) from requests where batch_id = b.id and status = 'failed'),
      prompt_tokens = (select coalesce(sum(prompt_tokens), 0) from requests where batch_id = b.id),
      completion_tokens = (select coalesce(sum(completion_tokens), 0) from requests where batch_id = b.id)
    where b.id = ${batchId}`);
}

/**
 * One line of a result file as the previous release built it (schema/sql/output-lines.ts at
 * f471e0f), over its `requests` row: what its gateway served, byte for byte.
 */
const PREVIOUS_RESULT_LINE = sql.raw(`(case when response is not null
  then '{"id":"batch_req_' || id || '","custom_id":' || to_json(custom_id)::text || ',"response":{"status_code":' || coalesce(status_code, 200)
    || ',"request_id":' || to_json(coalesce(engine_request_id, 'req_' || id))::text || ',"body":' || response || '},"error":' || coalesce(error::text, 'null') || '}'
  else '{"id":"batch_req_' || id || '","custom_id":' || to_json(custom_id)::text || ',"response":null,"error":'
    || coalesce(error, '{"code":"unknown_error","message":"No error was recorded for this request."}'::jsonb)::text || '}' end)`);

const PREVIOUS_FILE_STATUSES = { output: sql`('succeeded')`, error: sql`('failed', 'cancelled', 'expired')` };

/** A batch's result lines as the previous release served them, by custom_id (each with its newline). */
export async function previousResultLines(database: Database, batchId: string, kind: 'output' | 'error'): Promise<Map<string, string>> {
  const found = await rows<{ customId: string; text: string }>(
    database.db,
    sql`select custom_id as "customId", ${PREVIOUS_RESULT_LINE} || E'\n' as text
        from requests where batch_id = ${batchId} and status in ${PREVIOUS_FILE_STATUSES[kind]} order by line`,
  );
  return new Map(found.map((r) => [r.customId, r.text]));
}

/** Gives a batch that ended its output and error file rows as the previous release's finalize did (sizes from its line expression). */
export async function finalizeAsPrevious(database: Database, batchId: string): Promise<void> {
  for (const kind of ['output', 'error'] as const) {
    const fileId = `file-${kind}-${batchId}`;
    const [size] = await rows<{ lines: number }>(
      database.db,
      sql`insert into files (id, owner, purpose, filename, bytes, lines, batch_id)
          select ${fileId}, ${OWNER}, ${kind === 'output' ? 'batch_output' : 'batch_error'}, ${`${batchId}_${kind}.jsonl`},
                 coalesce(sum(octet_length(${PREVIOUS_RESULT_LINE}) + 1), 0), count(*), ${batchId}
          from requests where batch_id = ${batchId} and status in ${PREVIOUS_FILE_STATUSES[kind]}
          having count(*) > 0
          returning lines`,
    );
    if (size)
      await database.db.execute(
        sql`update batches set ${sql.raw(kind === 'output' ? 'output_file_id' : 'error_file_id')} = ${fileId} where id = ${batchId}`,
      );
  }
}

/** Stores an uploaded input file's bytes as the previous release did (one chunk). */
export async function storeInputFile(database: Database, batchId: string, text: string): Promise<void> {
  const bytes = Buffer.from(text, 'utf8');
  const input = `file-in-${batchId}`;
  await database.db.execute(
    sql`insert into file_chunks (file_id, seq, data) values (${input}, 0, decode(${bytes.toString('hex')}, 'hex'))`,
  );
  await database.db.execute(
    sql`update files set bytes = ${bytes.length}, lines = ${text.trimEnd().split('\n').length} where id = ${input}`,
  );
}
