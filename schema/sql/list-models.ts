import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { MODEL_COLUMNS, toModelRow, type ModelRow } from './model-row.ts';

/** The models of the registry by name (only the enabled ones when asked). */
export async function listModels(db: Executor, { enabledOnly = false }: { enabledOnly?: boolean } = {}): Promise<ModelRow[]> {
  const found = await rows<Parameters<typeof toModelRow>[0]>(
    db,
    sql`select ${MODEL_COLUMNS} from models ${enabledOnly ? sql`where enabled` : sql``} order by name`,
  );
  return found.map(toModelRow);
}
