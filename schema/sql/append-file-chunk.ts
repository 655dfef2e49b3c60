import { sql } from 'drizzle-orm';
import type { Executor } from '../db.ts';

/** Stores one chunk (256 KiB, the last one shorter) of an uploaded file; `seq` counts from 0. */
export async function appendFileChunk(db: Executor, fileId: string, seq: number, data: Uint8Array): Promise<void> {
  await db.execute(sql`insert into file_chunks (file_id, seq, data) values (${fileId}, ${seq}, ${data})`);
}
