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
 * The limits {@link setOwnerLimits} sets: a number sets the limit, null sets it back to the
 * deployment's default, and undefined (left out) keeps the stored one (the default when the
 * owner has no row).
 */
export interface OwnerLimitsChange {
  maxQueuedRequests?: number | null | undefined;
  requestsPerMinute?: number | null | undefined;
}

/**
 * Sets an owner's quotas (see {@link OwnerLimitsChange}): a limit left out keeps its stored
 * value. When both end at the default the row is removed, so the table holds only the
 * administrators' departures from the defaults, as `owner_weights` does.
 */
export async function setOwnerLimits(db: Executor, owner: string, change: OwnerLimitsChange): Promise<OwnerLimits> {
  const { maxQueuedRequests, requestsPerMinute } = change;
  const defaults = { owner, maxQueuedRequests: null, requestsPerMinute: null, updatedAtMs: null };
  if (maxQueuedRequests === undefined && requestsPerMinute === undefined) {
    const [stored] = await listOwnerLimits(db, { owner });
    return stored ?? defaults;
  }
  if (maxQueuedRequests === null && requestsPerMinute === null) {
    await db.execute(sql`delete from owner_limits where owner = ${owner}`);
    return defaults;
  }
  // A limit left out keeps the row's value on conflict (and is the default, null, on insert).
  const value = (given: number | null | undefined, column: string) =>
    given === undefined ? sql.raw(`owner_limits.${column}`) : sql.raw(`excluded.${column}`);
  const [row] = await rows<OwnerLimits>(
    db,
    sql`insert into owner_limits (owner, max_queued_requests, requests_per_minute)
        values (${owner}, ${maxQueuedRequests ?? null}, ${requestsPerMinute ?? null})
        on conflict (owner) do update set max_queued_requests = ${value(maxQueuedRequests, 'max_queued_requests')},
          requests_per_minute = ${value(requestsPerMinute, 'requests_per_minute')}, updated_at = now()
        returning ${COLUMNS}`,
  );
  if (row!.maxQueuedRequests !== null || row!.requestsPerMinute !== null) return row!;
  // The one given set back to the default, the one left out was the default already: no row.
  await db.execute(sql`delete from owner_limits where owner = ${owner} and max_queued_requests is null and requests_per_minute is null`);
  return defaults;
}

/** The quotas administrators set, by owner; only `owner`'s when given. */
export function listOwnerLimits(db: Executor, { owner }: { owner?: string } = {}): Promise<OwnerLimits[]> {
  return rows<OwnerLimits>(
    db,
    sql`select ${COLUMNS} from owner_limits ${owner === undefined ? sql`` : sql`where owner = ${owner}`} order by owner`,
  );
}
