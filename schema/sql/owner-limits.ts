import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** An owner's quotas as an administrator set them; null = the deployment's default. */
export interface OwnerLimits {
  owner: string;
  maxQueuedRequests: number | null;
  requestsPerMinute: number | null;
  /** When an administrator set them; null when the owner has no row (both defaults). */
  updatedAtMs: number | null;
}

const COLUMNS = sql`owner, max_queued_requests as "maxQueuedRequests", requests_per_minute as "requestsPerMinute",
  (extract(epoch from updated_at) * 1000)::float8 as "updatedAtMs"`;

/**
 * Sets an owner's quotas (null = the deployment's default). Both null removes the row, so the
 * table holds only the administrators' departures from the defaults, as `owner_weights` does.
 */
export async function setOwnerLimits(
  db: Executor,
  owner: string,
  { maxQueuedRequests, requestsPerMinute }: Pick<OwnerLimits, 'maxQueuedRequests' | 'requestsPerMinute'>,
): Promise<OwnerLimits> {
  if (maxQueuedRequests === null && requestsPerMinute === null) {
    await db.execute(sql`delete from owner_limits where owner = ${owner}`);
    return { owner, maxQueuedRequests, requestsPerMinute, updatedAtMs: null };
  }
  const [row] = await rows<OwnerLimits>(
    db,
    sql`insert into owner_limits (owner, max_queued_requests, requests_per_minute) values (${owner}, ${maxQueuedRequests}, ${requestsPerMinute})
        on conflict (owner) do update set max_queued_requests = excluded.max_queued_requests,
          requests_per_minute = excluded.requests_per_minute, updated_at = now()
        returning ${COLUMNS}`,
  );
  return row!;
}

/** The quotas administrators set, by owner; only `owner`'s when given. */
export function listOwnerLimits(db: Executor, { owner }: { owner?: string } = {}): Promise<OwnerLimits[]> {
  return rows<OwnerLimits>(
    db,
    sql`select ${COLUMNS} from owner_limits ${owner === undefined ? sql`` : sql`where owner = ${owner}`} order by owner`,
  );
}
