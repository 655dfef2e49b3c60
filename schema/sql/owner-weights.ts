import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** The weight of an owner without a row in `owner_weights`: every owner counts the same. */
export const DEFAULT_OWNER_WEIGHT = 1;

/** An owner's fair-share weight; `updatedAtMs` is null for the default (no row). */
export interface OwnerWeight {
  owner: string;
  weight: number;
  updatedAtMs: number | null;
}

// `weight` is read as `real`, not cast to float8: 0.3 stays 0.3 instead of 0.30000001192092896.
const COLUMNS = sql`owner, weight, (extract(epoch from updated_at) * 1000)::float8 as "updatedAtMs"`;

/**
 * Sets an owner's fair-share weight. The default weight removes the row instead of storing
 * it, so the table holds only the administrators' departures from "everybody counts the same"
 * and `listOwnerWeights` shows exactly those.
 */
export async function setOwnerWeight(db: Executor, owner: string, weight: number): Promise<OwnerWeight> {
  if (weight === DEFAULT_OWNER_WEIGHT) {
    await db.execute(sql`delete from owner_weights where owner = ${owner}`);
    return { owner, weight, updatedAtMs: null };
  }
  const [row] = await rows<OwnerWeight>(
    db,
    sql`insert into owner_weights (owner, weight) values (${owner}, ${weight})
        on conflict (owner) do update set weight = excluded.weight, updated_at = now()
        returning ${COLUMNS}`,
  );
  return row!;
}

/** The weights administrators set (owners not listed weigh {@link DEFAULT_OWNER_WEIGHT}), by owner; only `owner`'s when given. */
export function listOwnerWeights(db: Executor, { owner }: { owner?: string } = {}): Promise<OwnerWeight[]> {
  return rows<OwnerWeight>(
    db,
    sql`select ${COLUMNS} from owner_weights ${owner === undefined ? sql`` : sql`where owner = ${owner}`} order by owner`,
  );
}
