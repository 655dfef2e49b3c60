import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { FILE_COLUMNS, type FileRow } from './file-row.ts';

/** Marks an upload complete (`processed`) with its size and line count, and returns the file. */
export async function completeFile(db: Executor, fileId: string, { bytes, lines }: { bytes: number; lines: number }) {
  const [file] = await rows<FileRow>(
    db,
    sql`update files set status = 'processed', bytes = ${bytes}, lines = ${lines}
        where id = ${fileId} and status = 'uploaded' returning ${FILE_COLUMNS}`,
  );
  return file;
}
