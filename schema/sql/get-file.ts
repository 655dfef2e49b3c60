import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { FILE_COLUMNS, type FileRow } from './file-row.ts';

/** A complete file of the given owner, or undefined (another owner's file is not found either). */
export async function getFile(db: Executor, id: string, owner: string): Promise<FileRow | undefined> {
  const [file] = await rows<FileRow>(
    db,
    sql`select ${FILE_COLUMNS} from files where id = ${id} and owner = ${owner} and status = 'processed'`,
  );
  return file;
}
