import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** Removes a model from the registry; false when there was none of that name. Queued requests for it stay queued. */
export async function removeModel(db: Executor, name: string): Promise<boolean> {
  const removed = await rows<{ name: string }>(db, sql`delete from models where name = ${name} returning name`);
  return removed.length > 0;
}
