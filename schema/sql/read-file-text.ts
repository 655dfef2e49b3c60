import { sql } from 'drizzle-orm';
import { errorCodes, rows, type Executor } from '../db.ts';
import { readChunkBytes } from './read-file-chunks.ts';

/** One stored chunk of a file: its text when the chunk is valid UTF-8 on its own, else its bytes. */
export interface FilePiece {
  data: string | Uint8Array;
  /** The chunk's size in bytes. */
  bytes: number;
}

/** Options for {@link readFileText}. */
export interface ReadFileTextOptions {
  /** How many further chunks to ask for, on other pool connections, while the caller handles the current one (default 0). */
  readAhead?: number;
}

/** Chunks that may fail to read as text before the rest of the file is read as bytes. */
export const TEXT_FAILURES_ALLOWED = 8;

/** Postgres' code for bytes that are not valid in the database encoding (UTF-8): a split or bad sequence, or NUL. */
const INVALID_TEXT = '22021';

/**
 * Streams an uploaded file one stored chunk at a time, in order, as text where it can: a
 * chunk that is valid UTF-8 on its own comes as a string, converted by Postgres; one that is
 * not (a multi-byte character split between chunks, bytes that are not UTF-8, NUL) comes as
 * bytes (base64 on the wire, as {@link readFileChunks}), for the caller to join and judge.
 * After a few such chunks the rest is read as bytes, without trying text first. Ends at the
 * first missing chunk.
 *
 * Why not bytes throughout: for a 100 MB file Postgres spends about 170 ms of CPU encoding
 * base64 that the gateway then decodes and decodes again as UTF-8; as text neither side does.
 * Only on a pool (Postgres): a chunk that fails as text fails its statement, which would
 * abort a transaction.
 */
export async function* readFileText(db: Executor, fileId: string, { readAhead = 0 }: ReadFileTextOptions = {}): AsyncGenerator<FilePiece> {
  let failures = 0;
  const asBytes = async (seq: number): Promise<FilePiece | undefined> => {
    const data = await readChunkBytes(db, fileId, seq);
    return data && { data, bytes: data.length };
  };
  const read = async (seq: number): Promise<FilePiece | undefined> => {
    if (failures >= TEXT_FAILURES_ALLOWED) return asBytes(seq);
    try {
      const [chunk] = await rows<{ text: string; bytes: number }>(
        db,
        // octet_length reads the stored size: it does not decompress the chunk a second time.
        sql`select convert_from(data, 'UTF8') as text, octet_length(data)::int as bytes from file_chunks where file_id = ${fileId} and seq = ${seq}`,
      );
      return chunk && { data: chunk.text, bytes: chunk.bytes };
    } catch (error) {
      if (!errorCodes(error).includes(INVALID_TEXT)) throw error;
      failures++;
      return asBytes(seq);
    }
  };
  const pending: Promise<FilePiece | undefined>[] = [];
  let next = 0;
  for (;;) {
    while (pending.length <= readAhead) {
      const reading = read(next++);
      // Awaited in turn below; a read left behind when the caller stops must not be an unhandled rejection.
      reading.catch(() => {});
      pending.push(reading);
    }
    const piece = await pending.shift()!;
    if (!piece) return;
    yield piece;
  }
}
