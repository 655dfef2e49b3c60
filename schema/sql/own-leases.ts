import { sql, type SQL } from 'drizzle-orm';

/**
 * The `mine` CTE of every statement over a worker's ranges (its result write, its heartbeat,
 * its stop of ranges of stopping batches): the open ranges among `ids` that `owner` still
 * holds, locked in id order. Those statements run on separate connections; two that took the
 * same rows in different orders would deadlock. FOR NO KEY UPDATE is the lock their UPDATE
 * takes anyway, so taking it first costs nothing.
 */
export const mineLockedInIdOrder = (owner: string, ids: SQL) => sql`mine as materialized (
        select id, batch_id, model, first_line, last_line, attempts from request_ranges
        where id = any(${ids}) and lease_owner = ${owner} and finished_at is null
        order by id
        for no key update
      )`;

/** A list of ids (range or request) as one bigint[] parameter: drizzle would expand a JS array into one parameter per element. */
export const idArray = (ids: readonly number[]) => sql`${`{${ids.map((id) => Math.trunc(id)).join(',')}}`}::bigint[]`;
