import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** Deletes a file of the given owner and its stored chunks; false when there was none. */
export async function deleteFile(db: Executor, id: string, owner: string): Promise<boolean> {
  const deleted = await rows<{ id: string }>(db, sql`delete from files where id = ${id} and owner = ${owner} returning id`);
  return deleted.length > 0;
}
