import { sql, type SQL } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { REQUEST_STATES, type RequestState } from '../states/request-state.ts';
import { BATCH_STOP_LINE_STATE } from './batch-stop.ts';
import { OPEN_LINES } from './range-sums.ts';

/** Where a returned lease's lines may go: back to the queue, or failed, cancelled or expired with their range. */
export type ReturnedLeaseState = Exclude<RequestState, 'leased' | 'succeeded'>;
export const RETURNED_LEASE_STATES = REQUEST_STATES.filter((s): s is ReturnedLeaseState => s !== 'leased' && s !== 'succeeded');

/** Where returned leases went, grouped: the caller NOTIFYs for `queued` models and settles the batches. */
export interface ReturnedLeases {
  batchId: string;
  model: string;
  status: ReturnedLeaseState;
  /** Lines (without a result) that went there. */
  n: number;
}

/** Options of {@link returnLeases}. */
export interface ReturnLeasesOptions {
  /** Which leased ranges (a condition on the range `g`). */
  where: SQL;
  /** Fail a single-line range's line once its range was leased this many times instead of queueing it again. */
  maxAttempts: number;
  /** The lease ended without trying the requests (a graceful release): take the attempt back, and never split or fail. */
  refundAttempt: boolean;
  /** At most this many ranges. */
  limit: number;
  /**
   * Wait for ranges another statement holds locked instead of passing them over: for an owner
   * giving back its own ranges, whose heartbeat or result write may hold them for a moment. A
   * skipped range would stay leased to a worker that has dropped its jobs, until it expired.
   * Reapers leave it off, so that any number of them pass each other.
   */
  waitForLocks?: boolean;
}

/** A range whose lease was lost this many times is cut into one range per line, so one line that kills workers fails alone. */
export const SPLIT_AFTER_ATTEMPTS = 2;

/**
 * The statement behind reaping and releasing: ends the selected range leases in one statement.
 * - A range of a stopping batch is only unleased (`cancelled`/`expired`, the state its lines end
 *   in): it must not be leased again, and settling the batch writes its lines' results.
 * - Unless the attempt is refunded, a range of several lines leased
 *   {@link SPLIT_AFTER_ATTEMPTS} times is split: one open range per line without a result
 *   (attempts 1), the old one finished with the lines it wrote; a line that kills its worker
 *   then no longer takes its neighbours down with it (`queued`).
 * - Unless refunded, a single-line range leased `maxAttempts` times fails its line with
 *   `too_many_attempts`, counted in the range's `failed` (`failed`).
 * - Anything else goes back to the queue unleased (`queued`), as does a range due to be split
 *   that a result write changed after this statement began (the next lease splits it right).
 * Ranges are taken in id order (as result writes and heartbeats lock them), with SKIP LOCKED
 * unless `waitForLocks`, so any number of reapers may run it.
 */
export function returnLeases(db: Executor, { where, maxAttempts, refundAttempt, limit, waitForLocks = false }: ReturnLeasesOptions) {
  const tries = sql.raw(refundAttempt ? 'false' : 'true');
  return rows<ReturnedLeases>(
    db,
    sql`
      with picked as materialized (
        select g.id, g.batch_id, g.model, g.owner, g.priority, g.first_line, g.last_line, g.attempts,
               ${OPEN_LINES} as open,
               coalesce(${BATCH_STOP_LINE_STATE}, case
                    -- Split only a range as this statement's snapshot sees it: one a result write changed after the snapshot
                    -- (waited for, or committed before the lock) has results the snapshot cannot see, and would get pieces for them.
                    when ${tries} and g.first_line < g.last_line and g.attempts >= ${SPLIT_AFTER_ATTEMPTS}
                         and g.xmin = (select s.xmin from request_ranges s where s.id = g.id) then 'split'
                    when ${tries} and g.first_line = g.last_line and g.attempts >= ${maxAttempts} then 'failed'
                    else 'queued' end) as next
        from request_ranges g left join batches b on b.id = g.batch_id
        where g.lease_owner is not null and g.finished_at is null and ${where}
        order by g.id
        limit ${limit}
        for update of g${sql.raw(waitForLocks ? '' : ' skip locked')}
      ), failing as (
        insert into results (batch_id, line, status, error, attempts)
        select p.batch_id, p.first_line, 'failed',
               jsonb_build_object('code', 'too_many_attempts', 'message',
                 'This request was leased ' || p.attempts || ' times and each time its worker was lost before it finished '
                 || '(crashed, killed, or cut off from the database); it is not tried again.'),
               p.attempts
        from picked p
        where p.next = 'failed'
        on conflict do nothing
        returning batch_id, line
      ), pieces as (
        insert into request_ranges (batch_id, model, owner, priority, first_line, last_line, size, attempts)
        select p.batch_id, p.model, p.owner, p.priority, r.line, r.line, 1, 1
        from picked p
        join requests r on r.batch_id = p.batch_id and r.model = p.model and r.line between p.first_line and p.last_line
        where p.next = 'split' and not exists (select 1 from results x where x.batch_id = r.batch_id and x.line = r.line)
        order by p.batch_id, r.line
        returning id
      ), moved as (
        update request_ranges g
        set lease_owner = null, lease_expires_at = null,
            attempts = greatest(g.attempts - ${refundAttempt ? 1 : 0}, 0),
            finished_at = case when p.next in ('split', 'failed') then now() end,
            size = case when p.next = 'split' then g.succeeded + g.failed else g.size end,
            failed = g.failed + (select count(*)::int from failing f where p.next = 'failed' and f.batch_id = g.batch_id and f.line = g.first_line)
        from picked p
        where g.id = p.id
        returning g.id
      )
      select batch_id as "batchId", model, case when next = 'split' then 'queued' else next end as status, sum(open)::int as "n"
      from picked
      group by 1, 2, 3
      order by 1, 2, 3`,
  );
}
