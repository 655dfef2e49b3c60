/** The longest input line accepted; a longer one is reported and skipped, never held whole. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** A line of an input file (1-based number) with its text, or why it has none. */
export type InputLine = { line: number; text: string } | { line: number; problem: 'invalid_encoding' | 'line_too_long' };

const NEWLINE = 0x0a;

/** The UTF-8 size of a string (a lone surrogate counts 3 bytes, as TextEncoder writes U+FFFD). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c < 0xdc00 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

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
 * Splits a stream of an input file into lines. The stream's chunks are bytes, or text where
 * the reader already decoded a chunk (a whole chunk of valid UTF-8): text is split as it is;
 * bytes are split on bytes (a newline byte never occurs inside a multi-byte UTF-8 sequence),
 * and a line holding any bytes is decoded strictly as UTF-8 once whole, so a bad byte is
 * reported on the line that holds it. Only one line is ever held in memory. A byte order
 * mark at the start of the file and a `\r` before each newline are dropped.
 */
export async function* readLines(chunks: AsyncIterable<Uint8Array | string>, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<InputLine> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const encoder = new TextEncoder();
  let pieces: (Uint8Array | string)[] = [];
  let hasBytes = false;
  // The line's size: `counted` bytes known exactly, plus `uncounted` UTF-16 units of text,
  // each at most 3 bytes; text is measured only when that bound passes the limit.
  let counted = 0;
  let uncounted: string[] = [];
  let uncountedUnits = 0;
  let tooLong = false;
  let line = 0;
  const finish = (): InputLine => {
    line += 1;
    const held = pieces;
    const bytes = hasBytes;
    pieces = [];
    hasBytes = false;
    counted = 0;
    uncounted = [];
    uncountedUnits = 0;
    if (tooLong) {
      tooLong = false;
      return { line, problem: 'line_too_long' };
    }
    let text: string;
    if (!bytes) text = held.length === 1 ? (held[0] as string) : held.join('');
    else {
      const parts = held.map((piece) => (typeof piece === 'string' ? encoder.encode(piece) : piece));
      try {
        text = decoder.decode(
          concat(
            parts,
            parts.reduce((n, part) => n + part.length, 0),
          ),
        );
      } catch {
        return { line, problem: 'invalid_encoding' };
      }
    }
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.endsWith('\r')) text = text.slice(0, -1);
    return { line, text };
  };
  const overLimit = () => {
    if (counted + 3 * uncountedUnits <= maxLineBytes) return false;
    for (const text of uncounted) counted += utf8Length(text);
    uncounted = [];
    uncountedUnits = 0;
    return counted > maxLineBytes;
  };
  const keep = (piece: Uint8Array | string) => {
    if (tooLong || piece.length === 0) return;
    if (typeof piece === 'string') {
      uncounted.push(piece);
      uncountedUnits += piece.length;
    } else {
      counted += piece.length;
      hasBytes = true;
    }
    if (overLimit()) {
      tooLong = true;
      pieces = [];
      return;
    }
    pieces.push(piece);
  };
  for await (const chunk of chunks) {
    let start = 0;
    if (typeof chunk === 'string') {
      for (let end = chunk.indexOf('\n'); end !== -1; end = chunk.indexOf('\n', start)) {
        keep(chunk.slice(start, end));
        yield finish();
        start = end + 1;
      }
      keep(chunk.slice(start));
      continue;
    }
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      keep(chunk.subarray(start, end));
      yield finish();
      start = end + 1;
    }
    // The rest of the chunk starts a line that continues in the next one: copy it, as the
    // caller may reuse the chunk's memory.
    keep(chunk.slice(start));
  }
  if (pieces.length > 0 || tooLong) yield finish();
}
