import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** Deletes uploads that never completed (their gateway died mid-stream) and are older than `olderThanSeconds`. */
export async function deleteAbandonedUploads(db: Executor, olderThanSeconds: number): Promise<number> {
  const deleted = await rows<{ id: string }>(
    db,
    sql`delete from files where status = 'uploaded' and created_at < now() - make_interval(secs => ${olderThanSeconds}) returning id`,
  );
  return deleted.length;
}
