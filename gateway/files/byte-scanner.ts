/** Reads a byte stream with look-ahead: read up to a delimiter, or stream everything before it. */
export class ByteScanner {
  private buffer: Uint8Array;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(stream: ReadableStream<Uint8Array>, prefix: Uint8Array = new Uint8Array(0)) {
    this.reader = stream.getReader();
    this.buffer = prefix;
  }

  /** Appends the next chunk of the stream to the buffer; false at the end of the stream. */
  private async fill(): Promise<boolean> {
    const { done, value } = await this.reader.read();
    if (done) return false;
    this.buffer = this.buffer.length === 0 ? value : join(this.buffer, value);
    return true;
  }

  /** Consumes and returns exactly `n` bytes; throws at the end of the stream. */
  async take(n: number): Promise<Uint8Array> {
    while (this.buffer.length < n) if (!(await this.fill())) throw new Error('unexpected end of the multipart body');
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** Consumes and returns the bytes before `delimiter` (consuming it too), reading at most `max` bytes. */
  async readUntil(delimiter: Uint8Array, max: number): Promise<Uint8Array> {
    for (;;) {
      const at = indexOf(this.buffer, delimiter);
      if (at >= 0) {
        const out = this.buffer.subarray(0, at);
        this.buffer = this.buffer.subarray(at + delimiter.length);
        return out;
      }
      if (this.buffer.length > max) throw new Error(`a multipart header is longer than ${max} bytes`);
      if (!(await this.fill())) throw new Error('unexpected end of the multipart body');
    }
  }

  /**
   * Yields the bytes before `delimiter` as they arrive (consuming the delimiter at the end),
   * holding back only the few bytes that could be the start of a delimiter split across
   * chunks. Chunks are passed through without being copied: only that short tail is joined
   * with the head of the next chunk to look for a delimiter across the two.
   */
  async *streamUntil(delimiter: Uint8Array): AsyncGenerator<Uint8Array> {
    const keep = delimiter.length - 1;
    for (;;) {
      const at = indexOf(this.buffer, delimiter);
      if (at >= 0) {
        if (at > 0) yield this.buffer.subarray(0, at);
        this.buffer = this.buffer.subarray(at + delimiter.length);
        return;
      }
      if (this.buffer.length > keep) {
        yield this.buffer.subarray(0, this.buffer.length - keep);
        this.buffer = this.buffer.subarray(this.buffer.length - keep);
      }
      const { done, value: next } = await this.reader.read();
      if (done) throw new Error('unexpected end of the multipart body');
      const tail = this.buffer;
      if (tail.length === 0 || next.length < keep) {
        this.buffer = tail.length === 0 ? next : join(tail, next);
        continue;
      }
      const across = indexOf(join(tail, next.subarray(0, keep)), delimiter);
      if (across >= 0 && across < tail.length) {
        if (across > 0) yield tail.subarray(0, across);
        this.buffer = next.subarray(across + delimiter.length - tail.length);
        return;
      }
      if (tail.length > 0) yield tail;
      this.buffer = next;
    }
  }

  /** Stops reading the stream. */
  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The index of `needle` in `haystack`, or -1. */
export function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(first!); i !== -1 && i <= last; i = haystack.indexOf(first!, i + 1)) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}
