/** Options for {@link readSse}. */
export interface ReadSseOptions {
  /** Called with the data of complete events, in order, a batch at a time. */
  onEvents(data: string[]): void;
  /** Called on every piece of the body that arrives (keeps a stall watchdog fed). */
  onActivity(): void;
  /** Parse what has arrived once this many bytes are waiting (and at the end). */
  batchBytes?: number;
}

const decoderOptions = { stream: true };

/**
 * Reads a Server-Sent Events body. Pieces are only collected as they arrive and are
 * decoded and split into events in batches (every `batchBytes`, and at the end): a worker
 * streams tens of thousands of tokens a second, and per-token decoding, splitting and
 * JSON parsing cost more CPU than the engine simulator spends producing them. A short
 * reply is parsed once, at its end; a long one every 64 KiB, so memory stays bounded.
 * Resolves when the body ends; rejects when the connection breaks.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  { onEvents, onActivity, batchBytes = 65_536 }: ReadSseOptions,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pieces: Uint8Array[] = [];
  let waiting = 0;
  let carry = '';
  const parse = (end: boolean) => {
    let text = carry + decoder.decode(join(pieces, waiting), end ? undefined : decoderOptions);
    pieces = [];
    waiting = 0;
    // A CR ending what has arrived may be the first half of a CRLF: it waits for the next piece.
    const held = !end && text.endsWith('\r') ? '\r' : '';
    if (held) text = text.slice(0, -1);
    if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
    const last = end ? text.length : text.lastIndexOf('\n\n');
    if (last <= 0) {
      carry = end ? '' : text + held;
      if (end && text.trim()) onEvents(toData([text]));
      return;
    }
    carry = end ? '' : text.slice(last + 2) + held;
    onEvents(toData(text.slice(0, last).split('\n\n')));
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onActivity();
      pieces.push(value);
      waiting += value.byteLength;
      if (waiting >= batchBytes) parse(false);
    }
    parse(true);
  } finally {
    reader.releaseLock();
  }
}

/** The pieces as one buffer (one native copy): one decode call instead of one per token. */
function join(pieces: Uint8Array[], bytes: number): Uint8Array {
  return pieces.length === 1 ? (pieces[0] as Uint8Array) : Buffer.concat(pieces, bytes);
}

/** The data of each event block (the common block is a single `data: ` line). */
function toData(blocks: string[]): string[] {
  const out: string[] = [];
  for (const block of blocks) {
    if (block.startsWith('data: ') && !block.includes('\n')) {
      out.push(block.slice(6));
      continue;
    }
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
    }
    if (data.length) out.push(data.join('\n'));
  }
  return out;
}
