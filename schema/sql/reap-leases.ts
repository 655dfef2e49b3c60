import { sql } from 'drizzle-orm';
import type { Executor } from '../db.ts';
import { returnLeases } from './returned-leases.ts';

/**
 * Returns expired leases (their worker died or lost the database) to the queue, or fails
 * them after `maxAttempts`; walks `requests_leased_idx`. Any live fleet process runs it
 * every second or so.
 */
export function reapLeases(db: Executor, { maxAttempts, limit = 1000 }: { maxAttempts: number; limit?: number }) {
  return returnLeases(db, { where: sql`r.lease_expires_at < now()`, maxAttempts, refundAttempt: false, limit });
}
