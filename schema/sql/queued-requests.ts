import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { OPEN_LINES } from './range-sums.ts';

/**
 * The requests an owner has queued: the lines without a result in the open ranges of its
 * running batches (paused ones included: they will run), and the input file's lines for a
 * batch still validating (its requests are not counted yet; the file's lines are what it will
 * hold at most). Batches being cancelled, finalizing or ended hold none. The cost is that of
 * the owner's unfinished batches and their open ranges, never of their lines.
 */
export async function countQueuedRequests(db: Executor, owner: string): Promise<number> {
  const [row] = await rows<{ queued: number }>(
    db,
    sql`select coalesce(sum(case when b.status = 'validating' then coalesce(f.lines, 0)
              else (select coalesce(sum(${OPEN_LINES}), 0) from request_ranges g where g.batch_id = b.id and g.finished_at is null) end), 0)::float8
            as "queued"
        from batches b left join files f on b.status = 'validating' and f.id = b.input_file_id
        where b.owner = ${owner} and b.status in ('validating', 'in_progress')`,
  );
  return row?.queued ?? 0;
}

/** The queued-requests limit in force for `owner`: its own (`owner_limits`), else `fallback` (the deployment's); null = none. */
export async function maxQueuedRequestsOf(db: Executor, owner: string, fallback: number | null): Promise<number | null> {
  const [row] = await rows<{ max: number | null }>(
    db,
    sql`select coalesce((select max_queued_requests from owner_limits where owner = ${owner}), ${fallback}::int) as "max"`,
  );
  return row?.max ?? null;
}

/** The first key of the two-key advisory locks of owners' queues (apart from the one-key migration lock). */
const QUEUE_LOCK_CLASS = 1701;

/**
 * Serializes batch creations of one owner until the transaction ends, on every gateway
 * replica: the count of its queued requests and the new batch are then seen together.
 */
export async function lockOwnerQueue(tx: Executor, owner: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${QUEUE_LOCK_CLASS}, hashtext(${owner}))`);
}
