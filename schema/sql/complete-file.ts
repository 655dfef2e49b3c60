import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { FILE_COLUMNS, type FileRow } from './file-row.ts';

/** What {@link completeFile} records of a stored upload. */
export interface CompleteFileOptions {
  bytes: number;
  lines: number;
  /** Seconds the file lives from its creation (`expires_after`, or the deployment's retention); null or absent = kept. */
  expiresAfterSeconds?: number | null | undefined;
}

/** Marks an upload complete (`processed`) with its size, line count and expiry, and returns the file. */
export async function completeFile(db: Executor, fileId: string, { bytes, lines, expiresAfterSeconds }: CompleteFileOptions) {
  const expiresAt = expiresAfterSeconds == null ? sql`null` : sql`created_at + make_interval(secs => ${expiresAfterSeconds})`;
  const [file] = await rows<FileRow>(
    db,
    sql`update files set status = 'processed', bytes = ${bytes}, lines = ${lines}, expires_at = ${expiresAt}
        where id = ${fileId} and status = 'uploaded' returning ${FILE_COLUMNS}`,
  );
  return file;
}
