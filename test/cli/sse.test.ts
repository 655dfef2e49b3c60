import { describe, expect, it } from 'vitest';
import { readSse } from '../../cli/sse.ts';

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
}

describe('the SSE reader', () => {
  it('parses events split across chunks, with comments and CRLF', async () => {
    const events = [];
    for await (const e of readSse(
      streamOf(':\n\nevent: next\r\ndata: {"a"', ':1}\r\n\r\nevent: next\ndata: x\ndata: y\n\nevent: complete\ndata:\n\n'),
    ))
      events.push(e);
    expect(events).toEqual([
      { event: 'next', data: '{"a":1}' },
      { event: 'next', data: 'x\ny' },
      { event: 'complete', data: '' },
    ]);
  });

  it('ends when the signal aborts, even if the body never does', async () => {
    const body = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode('event: next\ndata: 1\n\n')) });
    const abort = new AbortController();
    const seen: string[] = [];
    for await (const e of readSse(body, abort.signal)) {
      seen.push(e.data);
      abort.abort();
    }
    expect(seen).toEqual(['1']);
  });
});
