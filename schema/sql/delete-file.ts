import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/**
 * Deletes a file of the given owner and its stored chunks; false when there was none. A
 * complete file leaves a `deleted` row behind, invisible but for one thing: it is still a
 * cursor of the file list, so a client that deletes each file of a page as it pages (what
 * `for await (f of files.list()) files.delete(f.id)` does) gets the next page after it.
 * An unfinished upload is removed entirely. An expired file is not found, as the API shows it
 * (the expiry sweep removes its bytes).
 */
export async function deleteFile(db: Executor, id: string, owner: string): Promise<boolean> {
  const deleted = await rows<{ id: string }>(
    db,
    sql`
      with target as (
        select id, status from files
        where id = ${id} and owner = ${owner} and (status = 'uploaded' or (status = 'processed' and (expires_at is null or expires_at > now())))
        for update
      ), chunks as (
        delete from file_chunks where file_id in (select id from target)
      ), dropped as (
        delete from files where id in (select id from target where status = 'uploaded') returning id
      ), marked as (
        update files set status = 'deleted' where id in (select id from target where status = 'processed') returning id
      )
      select id from dropped union all select id from marked`,
  );
  return deleted.length > 0;
}
