import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Executor } from '../db.ts';
import { returnLeases } from './returned-leases.ts';

/**
 * The application_name a worker gives its own Postgres connections: short enough for
 * Postgres' 63 bytes whatever the worker id, and the same in every process.
 */
export function workerConnectionName(workerId: string): string {
  return `vbs-w:${createHash('md5').update(workerId).digest('hex').slice(0, 20)}`;
}

/** Options for {@link reapLeases}. */
export interface ReapLeasesOptions {
  maxAttempts: number;
  limit?: number;
  /**
   * Also return the leases of a worker that has no Postgres connection left and whose
   * heartbeat is this late: killed or crashed, without waiting for its leases to expire.
   * A live worker always holds a connection (its LISTEN), so only a reconnect can make one
   * look dead, and then the lease guard keeps its late writes out: nothing is lost or done
   * twice, some work is redone. Leave it out on PGlite, which has no other processes.
   */
  orphanGraceMs?: number;
}

/**
 * Returns expired range leases (their worker died or lost the database) to the queue, split
 * or failed as {@link returnLeases} says; walks `request_ranges_leased_idx`. The next worker
 * skips the lines that already have results. Any live fleet process runs it every second or so.
 */
export function reapLeases(db: Executor, { maxAttempts, limit = 1000, orphanGraceMs }: ReapLeasesOptions) {
  const orphaned =
    orphanGraceMs === undefined
      ? sql`false`
      : sql`g.lease_owner in (
          select w.id from workers w
          where w.connection_name is not null
            and w.heartbeat_at < now() - make_interval(secs => ${orphanGraceMs / 1000})
            and not exists (select 1 from pg_stat_activity a where a.application_name = w.connection_name))`;
  return returnLeases(db, { where: sql`(g.lease_expires_at < now() or ${orphaned})`, maxAttempts, refundAttempt: false, limit });
}
