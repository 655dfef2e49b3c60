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
 * A card's `maxModelLen` as an int, or null when it is not a whole number that fits one
 * (`8192.5`, `1e9`, `"long"`, 2^31): one engine's odd card must not fail the list for
 * everyone. Nested CASEs, since Postgres may evaluate the operands of an AND in any order.
 */
const MAX_MODEL_LEN = sql`case when card->>'maxModelLen' ~ '^[0-9]{1,10}$' then
  case when (card->>'maxModelLen')::bigint <= 2147483647 then (card->>'maxModelLen')::int end end`;

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
          select card->>'id', extract(epoch from w.started_at) * 1000, null, card->>'root', ${MAX_MODEL_LEN}
          from workers w cross join lateral jsonb_array_elements(case when jsonb_typeof(w.engine_models) = 'array' then w.engine_models else '[]' end) card
          where w.status not in ('stopped', 'lost')
          union all
          select model, extract(epoch from started_at) * 1000, null, null, null from workers
          where model is not null and status not in ('stopped', 'lost') and engine_models = '[]'::jsonb
        ) m
        where name is not null
        group by name order by name`,
  );
}
