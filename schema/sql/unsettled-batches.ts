import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/**
 * Batches that should have been settled but were not: every request answered while still
 * `in_progress` (the writer died between its result write and its settle). The sweeper
 * settles them.
 */
export async function unsettledBatches(db: Executor, limit = 100): Promise<string[]> {
  const found = await rows<{ id: string }>(
    db,
    sql`select id from batches where status = 'in_progress' and completed + failed >= total and total > 0 limit ${limit}`,
  );
  return found.map((b) => b.id);
}
