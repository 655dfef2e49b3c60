import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { FILE_COLUMNS, LIVE_FILE, type FileRow } from './file-row.ts';

/** A complete, unexpired file of the given owner, or undefined (another owner's file is not found either). */
export async function getFile(db: Executor, id: string, owner: string): Promise<FileRow | undefined> {
  const [file] = await rows<FileRow>(
    db,
    sql`select ${FILE_COLUMNS} from files where files.id = ${id} and files.owner = ${owner} and ${LIVE_FILE}`,
  );
  return file;
}
