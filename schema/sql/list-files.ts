import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { FILE_COLUMNS, type FileRow } from './file-row.ts';

/** Options for {@link listFiles}. */
export interface ListFilesOptions {
  owner: string;
  purpose?: string | undefined;
  /** A file id: list the files after it in the chosen order. */
  after?: string | undefined;
  limit: number;
  order: 'asc' | 'desc';
}

/** Whether `id` can continue an owner's file list: one of their files, or one they deleted since the page that named it. */
export async function isFileCursor(db: Executor, id: string, owner: string): Promise<boolean> {
  const found = await rows<{ id: string }>(db, sql`select id from files where id = ${id} and owner = ${owner} and status in ('processed', 'deleted')`);
  return found.length > 0;
}

/** One page of an owner's complete files by creation time, and whether more follow. */
export async function listFiles(db: Executor, { owner, purpose, after, limit, order }: ListFilesOptions) {
  const direction = order === 'asc' ? sql`asc` : sql`desc`;
  const cursor = after
    ? sql`and seq ${order === 'asc' ? sql`>` : sql`<`} (select seq from files where id = ${after} and owner = ${owner})`
    : sql``;
  const found = await rows<FileRow>(
    db,
    sql`select ${FILE_COLUMNS} from files
        where owner = ${owner} and status = 'processed' ${purpose ? sql`and purpose = ${purpose}` : sql``} ${cursor}
        order by seq ${direction}
        limit ${limit + 1}`,
  );
  return { data: found.slice(0, limit), hasMore: found.length > limit };
}
