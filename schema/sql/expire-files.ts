import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/**
 * Marks up to `limit` files whose `expires_at` has passed `expired` and deletes their stored
 * bytes; returns their ids. The row stays, like a deleted file's, as a cursor of the file
 * list. A result file has no bytes of its own: what it is built from goes with
 * {@link purgeRequestData}. Several gateways may sweep at once: each takes other files.
 */
export async function expireFiles(db: Executor, limit = 20): Promise<string[]> {
  const expired = await rows<{ id: string }>(
    db,
    sql`
      with due as (
        select id from files where status = 'processed' and expires_at <= now()
        order by expires_at limit ${limit} for update skip locked
      ), chunks as (
        delete from file_chunks where file_id in (select id from due)
      )
      update files set status = 'expired' where id in (select id from due) returning id`,
  );
  return expired.map((f) => f.id);
}
