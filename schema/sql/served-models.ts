import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** A model that can be asked for now, since when it is known (milliseconds since the epoch), and its card fields when known. */
export interface ServedModel {
  name: string;
  createdAtMs: number;
  /** The weights' source: the engine's card `root` (vLLM), else the registry's source. */
  root: string | null;
  /** The context length the engine serves it with (vLLM's card `max_model_len`), when it said. */
  maxModelLen: number | null;
}

/**
 * The models a batch can name and expect to be served: the enabled models of the registry,
 * and every model the engines of live workers serve (a worker pointed at an engine serves
 * whatever that engine serves, registered or not; a worker of the previous release names
 * only its first model, in `model`).
 */
export async function servedModels(db: Executor): Promise<ServedModel[]> {
  return rows<ServedModel>(
    db,
    sql`select name, min(at)::float8 as "createdAtMs", coalesce(max(engine_root), max(source)) as root, max(max_model_len)::int as "maxModelLen" from (
          select name, extract(epoch from created_at) * 1000 as at, source, null as engine_root, null::int as max_model_len from models where enabled
          union all
          select card->>'id', extract(epoch from w.started_at) * 1000, null, card->>'root', (card->>'maxModelLen')::int
          from workers w cross join lateral jsonb_array_elements(w.engine_models) card
          where w.status not in ('stopped', 'lost')
          union all
          select model, extract(epoch from started_at) * 1000, null, null, null from workers
          where model is not null and status not in ('stopped', 'lost') and engine_models = '[]'::jsonb
        ) m
        where name is not null
        group by name order by name`,
  );
}
