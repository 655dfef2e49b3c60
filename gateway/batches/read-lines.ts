/** The longest input line accepted; a longer one is reported and skipped, never held whole. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** A line of an input file (1-based number) with its text, or why it has none. */
export type InputLine =
  | { line: number; text: string }
  | { line: number; problem: 'invalid_encoding' | 'line_too_long' };

const NEWLINE = 0x0a;

function concat(pieces: Uint8Array[], length: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/**
 * Splits a stream of bytes into lines and decodes each strictly as UTF-8. The split is
 * done on bytes (a newline byte never occurs inside a multi-byte UTF-8 sequence), so a bad
 * byte is reported on the line that holds it; only one line is ever held in memory.
 * A byte order mark at the start of the file and a `\r` before each newline are dropped.
 */
export async function* readLines(chunks: AsyncIterable<Uint8Array>, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<InputLine> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let pieces: Uint8Array[] = [];
  let length = 0;
  let tooLong = false;
  let line = 0;
  const finish = (): InputLine => {
    line += 1;
    const bytes = concat(pieces, length);
    pieces = [];
    length = 0;
    if (tooLong) {
      tooLong = false;
      return { line, problem: 'line_too_long' };
    }
    try {
      let text = decoder.decode(bytes);
      if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.endsWith('\r')) text = text.slice(0, -1);
      return { line, text };
    } catch {
      return { line, problem: 'invalid_encoding' };
    }
  };
  const keep = (piece: Uint8Array) => {
    if (tooLong || piece.length === 0) return;
    if (length + piece.length > maxLineBytes) {
      tooLong = true;
      pieces = [];
      length = 0;
      return;
    }
    pieces.push(piece);
    length += piece.length;
  };
  for await (const chunk of chunks) {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      keep(chunk.subarray(start, end));
      yield finish();
      start = end + 1;
    }
    // The rest of the chunk starts a line that continues in the next one: copy it, as the
    // caller may reuse the chunk's memory.
    keep(chunk.slice(start));
  }
  if (length > 0 || tooLong) yield finish();
}
