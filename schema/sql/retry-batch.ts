import { sql, type SQL } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { isFinalStatus, type BatchStatus } from '../states/batch-status.ts';
import type { FinishedRequestState } from '../states/request-state.ts';
import { cutRangesSql } from './cut-ranges.ts';

/** The result statuses a retry runs again. */
export const RETRIED_STATUSES = ['failed', 'expired'] as const satisfies readonly FinishedRequestState[];

/** Options for {@link retryBatch}. */
export interface RetryBatchOptions {
  batchId: string;
  owner: string;
  /** Ids of the new batch and of its input file. */
  newBatchId: string;
  newFileId: string;
  /** Seconds the new input file lives (the deployment's retention); null or absent = kept. */
  inputExpiresAfter?: number | null | undefined;
}

/** What {@link retryBatch} did. */
export type RetryOutcome =
  | { kind: 'not_found' }
  | { kind: 'not_finished'; status: BatchStatus }
  | { kind: 'nothing_to_retry' }
  /** The requests' bodies were removed (the input file expired or was deleted): nothing to send again. */
  | { kind: 'bodies_purged' }
  | { kind: 'created'; batchId: string; total: number; models: string[] };

/** The requests (`r`) of a batch whose results (`x`) a retry runs again (both sides bounded by batch, for a merge join). */
const retriedOf = (batchId: SQL | string) => sql`results x join requests r on r.batch_id = x.batch_id and r.line = x.line
  where x.batch_id = ${batchId} and r.batch_id = ${batchId} and x.status in (${sql.join(
    RETRIED_STATUSES.map((s) => sql`${s}`),
    sql`, `,
  )})`;

/**
 * Creates a new batch of the failed and expired requests of a finished one, in one
 * transaction: an input file holding exactly those lines (bodies as first given, built by
 * Postgres without moving them through the gateway), and the batch, already `in_progress`
 * since its lines were validated once, and its lines cut into ranges for the fleet. It keeps
 * the old batch's endpoint, window, priority, metadata, handlers and error budget, and records
 * `retried_from`.
 */
export async function retryBatch(
  db: Executor,
  { batchId, owner, newBatchId, newFileId, inputExpiresAfter }: RetryBatchOptions,
): Promise<RetryOutcome> {
  return db.transaction(async (tx) => {
    const [old] = await rows<{ status: BatchStatus; endpoint: string; purged: boolean; count: number; models: string[] | string }>(
      tx,
      sql`select b.status, b.endpoint, b.bodies_purged_at is not null as "purged",
            (select count(*)::int from ${retriedOf(sql`b.id`)}) as "count",
            (select coalesce(json_agg(distinct r.model), '[]')::text from ${retriedOf(sql`b.id`)}) as "models"
          from batches b where b.id = ${batchId} and b.owner = ${owner} for update`,
    );
    if (!old) return { kind: 'not_found' };
    // A batch that failed validation never ran (it has no results: nothing to retry); one stopped over its error budget did.
    if (!isFinalStatus(old.status)) return { kind: 'not_finished', status: old.status };
    if (old.count === 0) return { kind: 'nothing_to_retry' };
    if (old.purged) return { kind: 'bodies_purged' };
    const models = (typeof old.models === 'string' ? JSON.parse(old.models) : old.models) as string[];
    await tx.execute(sql`
      insert into files (id, owner, purpose, filename, batch_id, status, expires_at)
      values (${newFileId}, ${owner}, 'batch', ${`${batchId}_retry.jsonl`}, ${newBatchId}, 'processed',
        ${inputExpiresAfter == null ? null : sql`now() + make_interval(secs => ${inputExpiresAfter})`})`);
    // 128 lines per chunk: about 256 KiB for typical chat requests, the size uploads use.
    await tx.execute(sql`
      insert into file_chunks (file_id, seq, data)
      select ${newFileId}, (t.n - 1) / 128, convert_to(string_agg(t.text, '' order by t.n), 'UTF8')
      from (select row_number() over (order by r.line) as n,
              '{"custom_id":' || to_json(r.custom_id)::text || ',"method":"POST","url":' || to_json(${old.endpoint}::text)::text
                || ',"body":' || r.body || E'}\n' as text
            from ${retriedOf(batchId)}) t
      group by (t.n - 1) / 128`);
    await tx.execute(sql`
      update files set bytes = (select coalesce(sum(octet_length(data)), 0) from file_chunks where file_id = ${newFileId}),
        lines = ${old.count}
      where id = ${newFileId}`);
    await tx.execute(sql`
      insert into batches (id, owner, endpoint, model, completion_window, status, input_file_id, metadata, priority, handlers,
        output_expires_after, max_failed_requests, max_failure_ratio, min_requests_for_ratio, retried_from, total, in_progress_at, expires_at)
      select ${newBatchId}, owner, endpoint, ${models.length === 1 ? models[0]! : null}, completion_window, 'in_progress', ${newFileId},
        metadata, priority, handlers, output_expires_after, max_failed_requests, max_failure_ratio, min_requests_for_ratio,
        id, ${old.count}, now(), now() + (expires_at - created_at)
      from batches where id = ${batchId}`);
    await tx.execute(sql`
      insert into requests (batch_id, line, custom_id, model, body, priority)
      select ${newBatchId}, row_number() over (order by r.line), r.custom_id, r.model, r.body,
        (select priority from batches where id = ${batchId})
      from ${retriedOf(batchId)}`);
    // The batch was made in this transaction: no line of it has a result or a range yet.
    await tx.execute(cutRangesSql(newBatchId, { fresh: true }));
    return { kind: 'created', batchId: newBatchId, total: old.count, models };
  });
}
