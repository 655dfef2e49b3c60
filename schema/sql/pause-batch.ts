import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { BatchStatus } from '../states/batch-status.ts';
import { sqlList } from '../states/sql-list.ts';

/** The statuses a batch may be paused in: before its requests run out (a paused `validating` batch stays paused once it is `in_progress`). */
export const PAUSABLE_STATUSES = ['validating', 'in_progress'] as const satisfies readonly BatchStatus[];

/** What {@link pauseBatch} and {@link resumeBatch} did. */
export type PauseOutcome =
  | { kind: 'not_found' }
  | { kind: 'not_running'; status: BatchStatus }
  /** `changed` is false when the batch was already paused (pause) or not paused (resume): asking twice is no error. */
  | { kind: 'done'; changed: boolean; pausedAtMs: number | null; models: string[] };

const PAUSED_AT_MS = sql`(extract(epoch from b.paused_at) * 1000)::float8`;

/**
 * Pauses a running batch of the given owner: from now on the lease statement passes it over,
 * and the queue's counts (model demand, queue shares, queue positions) leave its lines out.
 * Requests already leased run to the end and their results are kept. Its status and its
 * completion window are unchanged. Pausing a paused batch keeps the first `paused_at`.
 */
export async function pauseBatch(db: Executor, batchId: string, owner: string): Promise<PauseOutcome> {
  const [row] = await rows<{ status: BatchStatus; changed: boolean; pausedAtMs: number | null }>(
    db,
    sql`with old as (select id, status, paused_at is null as running from batches where id = ${batchId} and owner = ${owner} for update),
        paused as (
          update batches b set paused_at = coalesce(b.paused_at, now())
          from old where b.id = old.id and old.status in ${sqlList(PAUSABLE_STATUSES)}
          returning b.paused_at
        )
        select old.status, old.running and exists (select 1 from paused) as "changed",
               (select ${PAUSED_AT_MS} from paused b) as "pausedAtMs"
        from old`,
  );
  if (!row) return { kind: 'not_found' };
  if (row.pausedAtMs === null) return { kind: 'not_running', status: row.status };
  return { kind: 'done', changed: row.changed, pausedAtMs: row.pausedAtMs, models: [] };
}

/**
 * Resumes a paused batch of the given owner: clears `paused_at` and returns the models of its
 * queued ranges, whose idle workers the caller should wake (NOTIFY `QUEUE_CHANNEL`). Resuming
 * a running batch that is not paused changes nothing; a batch that has ended (or is ending)
 * cannot be resumed.
 */
export async function resumeBatch(db: Executor, batchId: string, owner: string): Promise<PauseOutcome> {
  const [row] = await rows<{ status: BatchStatus; changed: boolean; models: string }>(
    db,
    sql`with old as (select id, status, paused_at is not null as paused from batches where id = ${batchId} and owner = ${owner} for update),
        resumed as (
          update batches b set paused_at = null
          from old where b.id = old.id and old.status in ${sqlList(PAUSABLE_STATUSES)}
          returning b.id
        )
        select old.status, old.paused and exists (select 1 from resumed) as "changed",
               (select coalesce(json_agg(distinct g.model), '[]')::text from request_ranges g
                where g.batch_id = old.id and g.lease_owner is null and g.finished_at is null) as "models"
        from old`,
  );
  if (!row) return { kind: 'not_found' };
  if (!(PAUSABLE_STATUSES as readonly string[]).includes(row.status)) return { kind: 'not_running', status: row.status };
  return { kind: 'done', changed: row.changed, pausedAtMs: null, models: JSON.parse(row.models) as string[] };
}
