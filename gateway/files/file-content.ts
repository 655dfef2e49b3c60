import { isStoredFile, readFileChunks, streamResultLines, type Database, type FileRow } from '../../schema/index.ts';

/** Lines grouped into pieces of about 64 KiB, so that a download is not one write per line (nor a stored chunk filled one short line at a time). */
export async function* encoded(lines: AsyncIterable<string>): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  let pending = '';
  for await (const line of lines) {
    pending += line;
    if (pending.length >= 64 * 1024) {
      yield encoder.encode(pending);
      pending = '';
    }
  }
  if (pending) yield encoder.encode(pending);
}

/**
 * The bytes of a file as a stream: an uploaded file from its stored chunks, a batch's
 * output or error file built line by line from its requests (never held whole).
 */
export function fileContent(database: Database, file: FileRow): AsyncIterable<Uint8Array> {
  if (!isStoredFile(file.kind) && file.batchId) return encoded(streamResultLines(database.db, file.batchId, file.kind));
  return readFileChunks(database.db, file.id);
}
