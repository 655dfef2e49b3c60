import { sql, type SQL } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { TERMINAL_BATCH_STATUSES } from '../states/batch-status.ts';
import { PENDING_HANDLER_RUN_STATUSES } from '../states/handler-run-status.ts';
import { sqlList } from '../states/sql-list.ts';

/** A batch (alias `b`) that has ended and has no handler run still to do (they read its results). */
const SETTLED = sql`b.status in ${sqlList(TERMINAL_BATCH_STATUSES)}
  and not exists (select 1 from handler_runs h where h.batch_id = b.id and h.status in ${sqlList(PENDING_HANDLER_RUN_STATUSES)})`;

/** No file the API still serves has this id (null included): it was deleted, or it expired. */
const gone = (fileId: SQL) =>
  sql`not exists (select 1 from files f where f.id = ${fileId} and f.status = 'processed' and (f.expires_at is null or f.expires_at > now()))`;

/** What {@link purgeRequestData} removed: the batches whose bodies, and those whose results, it cleared. */
export interface PurgedBatches {
  bodies: string[];
  results: string[];
}

/**
 * Removes what ended batches store per request once no file refers to it any more: the
 * requests' bodies (`''`) when the input file is gone, the results' responses and errors when
 * the output and error files are gone, for up to `limit` batches of each. A batch with a
 * handler run still queued or running is left alone until it is done. The rows themselves stay
 * (custom_id, result status, tokens, times: what a retry of its failed requests and the
 * statistics read), and the batch records when each part went (`bodies_purged_at`,
 * `results_purged_at`), so that a retry can say why it is refused. Rows are taken with SKIP
 * LOCKED: a retry of the batch, or another gateway's sweep, is never waited for.
 */
export async function purgeRequestData(db: Executor, limit = 5): Promise<PurgedBatches> {
  const bodies = await rows<{ id: string }>(
    db,
    sql`
      with target as (
        select b.id from batches b
        where b.bodies_purged_at is null and ${SETTLED} and ${gone(sql`b.input_file_id`)}
        order by b.seq limit ${limit} for update of b skip locked
      ), cleared as (
        update requests set body = '' where batch_id in (select id from target) and body <> ''
      )
      update batches set bodies_purged_at = now() where id in (select id from target) returning id`,
  );
  const results = await rows<{ id: string }>(
    db,
    sql`
      with target as (
        select b.id from batches b
        where b.results_purged_at is null and ${SETTLED} and ${gone(sql`b.output_file_id`)} and ${gone(sql`b.error_file_id`)}
        order by b.seq limit ${limit} for update of b skip locked
      ), cleared as (
        update results set response = null, error = null
        where batch_id in (select id from target) and (response is not null or error is not null)
      ), cleared_before as (
        -- Results of the previous release, kept on the request rows as well until purged.
        update requests set response = null, error = null
        where batch_id in (select id from target) and (response is not null or error is not null)
      )
      update batches set results_purged_at = now() where id in (select id from target) returning id`,
  );
  return { bodies: bodies.map((b) => b.id), results: results.map((b) => b.id) };
}
