import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/**
 * Streams the bytes of an uploaded file one stored chunk at a time (one row per query, so
 * at most one chunk is in memory), in order. Ends at the first missing chunk.
 */
export async function* readFileChunks(db: Executor, fileId: string): AsyncGenerator<Uint8Array> {
  for (let seq = 0; ; seq++) {
    const [chunk] = await rows<{ data: Uint8Array }>(db, sql`select data from file_chunks where file_id = ${fileId} and seq = ${seq}`);
    if (!chunk) return;
    yield chunk.data;
  }
}
