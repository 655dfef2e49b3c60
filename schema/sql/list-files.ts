import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { FILE_COLUMNS, LIVE_FILE, storedPurposes, type FileRow } from './file-row.ts';

/** Options for {@link listFiles}. */
export interface ListFilesOptions {
  owner: string;
  purpose?: string | undefined;
  /** A file id: list the files after it in the chosen order. */
  after?: string | undefined;
  limit: number;
  order: 'asc' | 'desc';
}

/** Whether `id` can continue an owner's file list: one of their files, or one deleted or expired since the page that named it. */
export async function isFileCursor(db: Executor, id: string, owner: string): Promise<boolean> {
  const found = await rows<{ id: string }>(
    db,
    sql`select id from files where id = ${id} and owner = ${owner} and status in ('processed', 'deleted', 'expired')`,
  );
  return found.length > 0;
}

/** One page of an owner's complete, unexpired files by creation time, and whether more follow. */
export async function listFiles(db: Executor, { owner, purpose, after, limit, order }: ListFilesOptions) {
  const direction = order === 'asc' ? sql`asc` : sql`desc`;
  const cursor = after
    ? sql`and seq ${order === 'asc' ? sql`>` : sql`<`} (select seq from files where id = ${after} and owner = ${owner})`
    : sql``;
  const purposes = purpose
    ? sql`and files.purpose in (${sql.join(
        storedPurposes(purpose).map((p) => sql`${p}`),
        sql`, `,
      )})`
    : sql``;
  const found = await rows<FileRow>(
    db,
    sql`select ${FILE_COLUMNS} from files
        where files.owner = ${owner} and ${LIVE_FILE} ${purposes} ${cursor}
        order by files.seq ${direction}
        limit ${limit + 1}`,
  );
  return { data: found.slice(0, limit), hasMore: found.length > limit };
}
