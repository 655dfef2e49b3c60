import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** A batch's stored handler options, as JSON text (compared as it is when they are replaced). */
export interface BatchHandlersRow {
  id: string;
  handlers: string;
}

/** A page of the batches that asked for handlers, in id order after `afterId` (keyset pagination). */
export function listBatchHandlers(db: Executor, { afterId, limit }: { afterId: string; limit: number }): Promise<BatchHandlersRow[]> {
  return rows<BatchHandlersRow>(
    db,
    sql`select id, handlers::text as handlers from batches where id > ${afterId} and handlers <> '{}'::jsonb order by id limit ${limit}`,
  );
}
