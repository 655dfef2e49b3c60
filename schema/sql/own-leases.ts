import { sql, type SQL } from 'drizzle-orm';

/**
 * The `mine` CTE of every statement over a worker's leases (its result write, its heartbeat,
 * its stop of cancelled requests): the requests among `ids` that `owner` still holds, locked
 * in id order. Those statements run on separate connections; two that took the same rows in
 * different orders would deadlock.
 */
export const mineLockedInIdOrder = (owner: string, ids: SQL) => sql`mine as materialized (
        select id from requests
        where id = any(${ids}) and lease_owner = ${owner} and status = 'leased'
        order by id
        for no key update
      )`;

/** A list of request ids as one bigint[] parameter. */
export const idArray = (ids: readonly number[]) => sql`${`{${ids.join(',')}}`}::bigint[]`;
