import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { MODEL_COLUMNS, toModelRow, type ModelRow } from './model-row.ts';
import type { NewModel } from './register-model.ts';

/** Changes the given fields of a registered model; undefined when there is none of that name. */
export async function updateModel(db: Executor, name: string, changes: Partial<Omit<NewModel, 'name'>>): Promise<ModelRow | undefined> {
  const sets = [sql`updated_at = now()`];
  if (changes.source !== undefined) sets.push(sql`source = ${changes.source}`);
  if (changes.engineArgs !== undefined) sets.push(sql`engine_args = ${JSON.stringify(changes.engineArgs)}::jsonb`);
  if (changes.maxConcurrency !== undefined) sets.push(sql`max_concurrency = ${changes.maxConcurrency}`);
  if (changes.enabled !== undefined) sets.push(sql`enabled = ${changes.enabled}`);
  const [raw] = await rows<Parameters<typeof toModelRow>[0]>(
    db,
    sql`update models set ${sql.join(sets, sql`, `)} where name = ${name} returning ${MODEL_COLUMNS}`,
  );
  return raw && toModelRow(raw);
}
