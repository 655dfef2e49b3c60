import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { MODEL_COLUMNS, toModelRow, type ModelRow } from './model-row.ts';

/** A model to add to the registry. */
export interface NewModel {
  name: string;
  source: string;
  engineArgs: string[];
  maxConcurrency: number | null;
  enabled: boolean;
}

/** Adds a model to the registry; undefined when one of that name is already there. */
export async function registerModel(db: Executor, model: NewModel): Promise<ModelRow | undefined> {
  const [raw] = await rows<Parameters<typeof toModelRow>[0]>(
    db,
    sql`insert into models (name, source, engine_args, max_concurrency, enabled)
        values (${model.name}, ${model.source}, ${JSON.stringify(model.engineArgs)}::jsonb, ${model.maxConcurrency}, ${model.enabled})
        on conflict (name) do nothing
        returning ${MODEL_COLUMNS}`,
  );
  return raw && toModelRow(raw);
}
