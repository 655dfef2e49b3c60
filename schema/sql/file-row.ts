import { sql } from 'drizzle-orm';

/** A file as the API reads it; times in milliseconds since the epoch. */
export interface FileRow {
  id: string;
  owner: string;
  purpose: string;
  filename: string;
  bytes: number;
  lines: number | null;
  batchId: string | null;
  status: string;
  createdAtMs: number;
}

/** The columns of {@link FileRow}, cast so that both drivers return the same types. */
export const FILE_COLUMNS = sql`id, owner, purpose, filename, bytes::float8 as "bytes", lines, batch_id as "batchId", status,
  (extract(epoch from created_at) * 1000)::float8 as "createdAtMs"`;
