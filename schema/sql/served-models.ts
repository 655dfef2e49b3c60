import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** A model that can be asked for now, and since when it is known (milliseconds since the epoch). */
export interface ServedModel {
  name: string;
  createdAtMs: number;
}

/**
 * The models a batch can name and expect to be served: the enabled models of the registry,
 * and the models loaded by workers that are alive (a worker pointed at an engine serves
 * whatever that engine serves, registered or not).
 */
export async function servedModels(db: Executor): Promise<ServedModel[]> {
  return rows<ServedModel>(
    db,
    sql`select name, min(at)::float8 as "createdAtMs" from (
          select name, extract(epoch from created_at) * 1000 as at from models where enabled
          union all
          select model, extract(epoch from started_at) * 1000 from workers
          where model is not null and status not in ('stopped', 'lost')
        ) m
        group by name order by name`,
  );
}
