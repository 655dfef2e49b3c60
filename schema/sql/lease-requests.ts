import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** The NOTIFY channel that wakes idle workers when requests are queued; the payload is the model name. */
export const QUEUE_CHANNEL = 'vbs_queue';

/** A request as a worker receives it from the queue. */
export interface LeasedRequest {
  id: number;
  batchId: string;
  line: number;
  customId: string;
  model: string;
  body: string;
  attempts: number;
}

/** Options for {@link leaseRequests}. */
export interface LeaseRequestsOptions {
  owner: string;
  model: string;
  limit: number;
  leaseMs: number;
}

/**
 * Claims up to `limit` queued requests of one model in one statement. The CTE walks
 * `requests_queue_idx` (model, priority desc, id) where status = 'queued', so it reads
 * only the rows it returns; SKIP LOCKED lets any number of workers lease at once.
 */
export function leaseRequests(db: Executor, options: LeaseRequestsOptions) {
  return rows<LeasedRequest>(db, leaseRequestsSql(options));
}

/** The statement of {@link leaseRequests}, for EXPLAIN. */
export function leaseRequestsSql({ owner, model, limit, leaseMs }: LeaseRequestsOptions) {
  return sql`
      with picked as (
        select id from requests
        where status = 'queued' and model = ${model}
        order by priority desc nulls last, id
        limit ${limit}
        for update skip locked
      )
      update requests r
      set status = 'leased',
          lease_owner = ${owner},
          lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000}),
          attempts = r.attempts + 1,
          started_at = coalesce(r.started_at, now())
      from picked
      where r.id = picked.id
      returning r.id::float8 as "id", r.batch_id as "batchId", r.line, r.custom_id as "customId",
                r.model, r.body, r.attempts`;
}
