import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/**
 * Batches that should have been settled but were not: `in_progress` with no open range left
 * (the writer died between its result write and its settle; or lines were queued without
 * ranges, which the settle cuts). The sweeper settles them.
 */
export async function unsettledBatches(db: Executor, limit = 100): Promise<string[]> {
  const found = await rows<{ id: string }>(
    db,
    sql`select b.id from batches b
        where b.status = 'in_progress' and b.total > 0
          and not exists (select 1 from request_ranges g where g.batch_id = b.id and g.finished_at is null)
        limit ${limit}`,
  );
  return found.map((b) => b.id);
}
