import { describe, expect, it } from 'vitest';
import { readSse } from '../../fleet/engine/sse.ts';

const streamOf = (pieces: string[]) => {
  const bytes = pieces.map((p) => new TextEncoder().encode(p));
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const b of bytes) controller.enqueue(b);
      controller.close();
    },
  });
};

describe('reading server-sent events', () => {
  it('reassembles events split anywhere, across multi-byte characters and CRLF line ends', async () => {
    const text = 'data: {"a":"é"}\r\n\r\n: comment\n\ndata: {"b":1}\ndata: {"c":2}\n\ndata: [DONE]\n\n';
    const bytes = new TextEncoder().encode(text);
    for (const batchBytes of [1, 7, 65_536]) {
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += 3) pieces.push(bytes.slice(i, i + 3));
      const seen: string[] = [];
      let activity = 0;
      await readSse(
        new ReadableStream({
          start: (c) => {
            for (const p of pieces) c.enqueue(p);
            c.close();
          },
        }),
        { onEvents: (d) => seen.push(...d), onActivity: () => activity++, batchBytes },
      );
      expect(seen).toEqual(['{"a":"é"}', '{"b":1}\n{"c":2}', '[DONE]']);
      expect(activity).toBe(pieces.length);
    }
  });

  it('keeps a CRLF split between two pieces as one line end', async () => {
    const seen: string[] = [];
    await readSse(streamOf(['data: {"a":\r', '\ndata: 1}\r', '\n\r', '\ndata: [DONE]\r\n\r\n']), {
      onEvents: (d) => seen.push(...d),
      onActivity() {},
      batchBytes: 1,
    });
    expect(seen).toEqual(['{"a":\n1}', '[DONE]']);
  });

  it('hands over a last event without its blank line', async () => {
    const seen: string[] = [];
    await readSse(streamOf(['data: 1\n\ndata: 2']), { onEvents: (d) => seen.push(...d), onActivity() {} });
    expect(seen).toEqual(['1', '2']);
  });
});
