import { sql } from 'drizzle-orm';
import type { Executor } from '../db.ts';
import { idArray } from './own-leases.ts';
import { returnLeases } from './returned-leases.ts';

/** Options of {@link releaseRequests}. */
export interface ReleaseRequestsOptions {
  owner: string;
  /** Only these ranges (range ids); all of the owner's leases when absent. */
  ids?: readonly number[];
  /**
   * True when the owner itself gives the work back unstarted or interrupted on purpose
   * (draining): the attempt is taken back. False for a dead predecessor's leases, which
   * count like reaped ones.
   */
  refundAttempt: boolean;
  maxAttempts: number;
}

/** Gives range leases back at once instead of waiting for them to expire: on drain, or for a dead predecessor on the same GPU. */
export function releaseRequests(db: Executor, { owner, ids, refundAttempt, maxAttempts }: ReleaseRequestsOptions) {
  const only = ids ? sql` and g.id = any(${idArray(ids)})` : sql``;
  return returnLeases(db, {
    where: sql`g.lease_owner = ${owner}${only}`,
    maxAttempts,
    refundAttempt,
    limit: 1_000_000,
    waitForLocks: true,
  });
}
