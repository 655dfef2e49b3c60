import { describe, expect, it } from 'vitest';
import { rawMember } from '../../gateway/batches/raw-member.ts';
import { readLines } from '../../gateway/batches/read-lines.ts';
import { multipartBoundary, parseMultipart } from '../../gateway/files/multipart.ts';

const encoder = new TextEncoder();

function streamOf(bytes: Uint8Array, pieceSize: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + pieceSize));
      at += pieceSize;
    },
  });
}

async function* piecesOf(input: Uint8Array | (Uint8Array | string)[], pieceSize = 1) {
  if (Array.isArray(input)) yield* input;
  else for (let at = 0; at < input.length; at += pieceSize) yield input.slice(at, at + pieceSize);
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

describe('the streaming multipart parser', () => {
  const boundary = '----vbs-boundary-7MA4YWxk';
  const file = 'line one\r\n--not-the-boundary\r\nline three ☃\n'.repeat(50);
  const body = encoder.encode(
    `preamble\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="in \\"x\\".jsonl"\r\nContent-Type: application/jsonl\r\n\r\n${file}` +
      `\r\n--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${boundary}--\r\nepilogue`,
  );

  it.each([1, 2, 7, 28, 29, 30, 41, 64, 100_000])('yields the same parts whatever the chunk size (%i bytes)', async (pieceSize) => {
    const parts: { name: string; filename: string | null; contentType: string | null; text: string }[] = [];
    for await (const part of parseMultipart(streamOf(body, pieceSize), boundary)) {
      const chunks = await collect(part.body);
      parts.push({ name: part.name, filename: part.filename, contentType: part.contentType, text: Buffer.concat(chunks).toString('utf8') });
    }
    expect(parts).toEqual([
      { name: 'file', filename: 'in "x".jsonl', contentType: 'application/jsonl', text: file },
      { name: 'purpose', filename: null, contentType: null, text: 'batch' },
    ]);
  });

  it('skips the body of a part the caller does not read', async () => {
    const names: string[] = [];
    for await (const part of parseMultipart(streamOf(body, 13), boundary)) names.push(part.name);
    expect(names).toEqual(['file', 'purpose']);
  });

  it('rejects a body that ends before its closing delimiter', async () => {
    const truncated = body.slice(0, body.length - 40);
    await expect(collect(parseMultipart(streamOf(truncated, 16), boundary))).rejects.toThrow(/unexpected end/);
  });

  it('reads the boundary from the content type, quoted or not', () => {
    expect(multipartBoundary('multipart/form-data; boundary=abc')).toBe('abc');
    expect(multipartBoundary('multipart/form-data; charset=utf-8; boundary="a b"')).toBe('a b');
    expect(multipartBoundary('application/json')).toBeNull();
  });
});

describe('reading the lines of an input file', () => {
  it.each([1, 3, 1000])('splits lines and decodes UTF-8 across chunk borders (%i bytes)', async (pieceSize) => {
    const bytes = encoder.encode('\uFEFFfirst ☃\r\nsecond é\n\nlast');
    const lines = await collect(readLines(piecesOf(bytes, pieceSize)));
    expect(lines).toEqual([
      { line: 1, text: 'first ☃' },
      { line: 2, text: 'second é' },
      { line: 3, text: '' },
      { line: 4, text: 'last' },
    ]);
  });

  it('splits text chunks, and text mixed with bytes, into the same lines', async () => {
    const mixed = ['\uFEFFfirst ☃\r', '\nsec', encoder.encode('ond é\n\nla'), 'st'];
    const lines = await collect(readLines(piecesOf(mixed)));
    expect(lines).toEqual([
      { line: 1, text: 'first ☃' },
      { line: 2, text: 'second é' },
      { line: 3, text: '' },
      { line: 4, text: 'last' },
    ]);
    const snowman = encoder.encode('☃');
    const split = await collect(readLines(piecesOf(['a', snowman.subarray(0, 2), snowman.subarray(2), 'b\nc'])));
    expect(split).toEqual([
      { line: 1, text: 'a☃b' },
      { line: 2, text: 'c' },
    ]);
  });

  it('decodes a line of text and bytes strictly, and measures text lines in UTF-8 bytes', async () => {
    const lines = await collect(
      readLines(piecesOf(['ok\nbad ', new Uint8Array([0xc3, 0x28]), '\néé', 'ééé\néééééé\n', 'x'.repeat(11), '\nend']), 10),
    );
    expect(lines).toEqual([
      { line: 1, text: 'ok' },
      { line: 2, problem: 'invalid_encoding' },
      { line: 3, text: 'ééééé' },
      { line: 4, problem: 'line_too_long' },
      { line: 5, problem: 'line_too_long' },
      { line: 6, text: 'end' },
    ]);
  });

  it('reports invalid UTF-8 and overlong lines on their own line, and goes on', async () => {
    const bytes = Buffer.concat([
      Buffer.from('ok\n'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('\n'),
      Buffer.from('x'.repeat(50)),
      Buffer.from('\nend\n'),
    ]);
    const lines = await collect(readLines(piecesOf(bytes, 4), 20));
    expect(lines).toEqual([
      { line: 1, text: 'ok' },
      { line: 2, problem: 'invalid_encoding' },
      { line: 3, problem: 'line_too_long' },
      { line: 4, text: 'end' },
    ]);
  });
});

describe('the raw text of a JSON member', () => {
  it('returns a member exactly as written, numbers and spacing included', () => {
    const text = '{ "custom_id" : "a,}", "body" : {"seed": 12345678901234567890, "t": 1.0, "s": "x\\"}"} , "url": "/v1"}';
    expect(rawMember(text, 'body')).toBe('{"seed": 12345678901234567890, "t": 1.0, "s": "x\\"}"}');
    expect(rawMember(text, 'url')).toBe('"/v1"');
    expect(rawMember(text, 'missing')).toBeUndefined();
  });

  it('takes the last of duplicate keys, as JSON.parse does, and handles escaped key names', () => {
    expect(rawMember('{"body": [1], "b\\u006fdy": {"n": null}}', 'body')).toBe('{"n": null}');
    expect(rawMember('{"body":true}', 'body')).toBe('true');
  });
});
