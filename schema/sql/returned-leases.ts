import { sql, type SQL } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** Where returned leases went, grouped: the caller NOTIFYs for `queued` models and settles the batches. */
export interface ReturnedLeases {
  batchId: string;
  model: string;
  status: 'queued' | 'failed' | 'cancelled' | 'expired';
  n: number;
}

/** Options of {@link returnLeases}. */
export interface ReturnLeasesOptions {
  /** Which leased rows (a condition on `r`). */
  where: SQL;
  /** Fail a request whose lease attempts reached this many instead of queueing it again. */
  maxAttempts: number;
  /** The lease ended without trying the request (a graceful release): take the attempt back and never fail it. */
  refundAttempt: boolean;
  limit: number;
}

/**
 * The statement behind reaping and releasing: ends the selected leases in one statement.
 * Each request goes back to `queued`, or to `cancelled`/`expired` when its batch is
 * stopping (a stopping batch must not get queued work back), or to `failed` with
 * `too_many_attempts` when it has been leased `maxAttempts` times (a request that keeps
 * killing its worker must not loop); failures bump the batch's `failed` counter in the
 * same statement. Rows are taken with SKIP LOCKED, so any number of processes may run it.
 */
export function returnLeases(db: Executor, { where, maxAttempts, refundAttempt, limit }: ReturnLeasesOptions) {
  return rows<ReturnedLeases>(
    db,
    sql`
      with picked as (
        select r.id,
               case when b.status in ('cancelling', 'cancelled') then 'cancelled'
                    when b.status = 'expired' or b.expires_at < now() then 'expired'
                    when ${sql.raw(refundAttempt ? 'false' : 'true')} and r.attempts >= ${maxAttempts} then 'failed'
                    else 'queued' end as next
        from requests r left join batches b on b.id = r.batch_id
        where r.status = 'leased' and ${where}
        order by r.id
        limit ${limit}
        for update of r skip locked
      ), moved as (
        update requests r
        set status = p.next, lease_owner = null, lease_expires_at = null,
            attempts = greatest(r.attempts - ${refundAttempt ? 1 : 0}, 0),
            finished_at = case when p.next = 'queued' then null else now() end,
            error = case p.next
              when 'cancelled' then '{"code":"batch_cancelled","message":"The batch was cancelled before this request was executed."}'::jsonb
              when 'expired' then '{"code":"batch_expired","message":"This request could not be executed before the completion window expired."}'::jsonb
              when 'failed' then jsonb_build_object('code', 'too_many_attempts', 'message',
                'This request was leased ' || r.attempts || ' times and each time its worker was lost before it finished '
                || '(crashed, killed, or cut off from the database); it is not tried again.')
              else null end
        from picked p
        where r.id = p.id
        returning r.batch_id, r.model, r.status
      ), failures as (
        select batch_id, count(*)::int as n from moved where status = 'failed' group by batch_id
      ), counted as (
        update batches b set failed = b.failed + f.n from failures f where b.id = f.batch_id returning b.id
      )
      select batch_id as "batchId", model, status, count(*)::int as "n" from moved group by batch_id, model, status`,
  );
}
