// Diagnostics of the lease path: the project's statements on the `requests` table cut down,
// to measure how far the per-request lease protocol could go. None of these schemas is viable.
import { sql } from 'drizzle-orm';
import { rows, type Database, type LeasedRequest } from '../../schema/index.ts';
import { PROJECT_STATEMENTS, type QueueStatements } from './queue-loop.ts';

/** A schema change made on a scratch database before its loop, and the statements run on it. */
export interface LeaseVariant {
  prepare(database: Database): Promise<void>;
  statements: QueueStatements;
}

/** The indexes that only the reaper's drain, the batch pages and the estimates use. */
export const FEWER_INDEXES: LeaseVariant = {
  async prepare(database) {
    await database.db.execute(sql`drop index requests_batch_status_idx, requests_lease_owner_idx, requests_finished_idx`);
  },
  statements: PROJECT_STATEMENTS,
};

/**
 * The most a per-request lease can keep: only the primary key, the batch-and-line key and the
 * queue index, whose predicate reads a generated column that finishing a request leaves alone,
 * so that the result write can be a HOT update (no index entries) on pages kept 40% free.
 * Without `requests_leased_idx` no reaper could find an expired lease.
 */
export const CEILING: LeaseVariant = {
  async prepare(database) {
    await database.db.execute(sql`
      drop index requests_batch_status_idx, requests_lease_owner_idx, requests_finished_idx, requests_leased_idx, requests_queue_idx;
      alter table requests add column queued boolean generated always as (status = 'queued') stored, set (fillfactor = 60);
      create index requests_queue_idx on requests (model, priority desc nulls last, id) where queued`);
  },
  statements: {
    ...PROJECT_STATEMENTS,
    lease: (database, owner, limit) =>
      rows<LeasedRequest>(
        database.db,
        sql`with picked as (
              select id from requests where queued and model = 'm' order by priority desc nulls last, id limit ${limit} for update skip locked)
            update requests r set status = 'leased', lease_owner = ${owner}, lease_expires_at = now() + interval '6 seconds',
                   attempts = r.attempts + 1, started_at = coalesce(r.started_at, now())
            from picked where r.id = picked.id
            returning r.id::float8 as "id", r.batch_id as "batchId", r.line, r.custom_id as "customId", r.model, r.body, r.attempts`,
      ),
  },
};
