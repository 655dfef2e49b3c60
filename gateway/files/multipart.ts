import { ByteScanner } from './byte-scanner.ts';

/** One part of a multipart/form-data body; `body` must be read (or is skipped) before the next part. */
export interface MultipartPart {
  name: string;
  filename: string | null;
  contentType: string | null;
  body: AsyncIterable<Uint8Array>;
}

/** The multipart body is malformed. */
export class MultipartError extends Error {}

const MAX_HEADER_BYTES = 16 * 1024;
const encoder = new TextEncoder();

/** The boundary of a `multipart/form-data` content type, or null when it is not one. */
export function multipartBoundary(contentType: string | null | undefined): string | null {
  if (!contentType || !/^multipart\/form-data/i.test(contentType)) return null;
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2] ?? null;
}

function dispositionParam(disposition: string, key: string): string | null {
  const match = new RegExp(`;\\s*${key}="((?:[^"\\\\]|\\\\.)*)"|;\\s*${key}=([^;\\s]+)`, 'i').exec(disposition);
  if (!match) return null;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : (match[2] ?? null);
}

function parseHeaders(block: Uint8Array): Omit<MultipartPart, 'body'> {
  const headers = new Map<string, string>();
  for (const line of new TextDecoder().decode(block).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const disposition = headers.get('content-disposition') ?? '';
  const name = dispositionParam(disposition, 'name');
  if (name === null) throw new MultipartError('a multipart part has no name in its Content-Disposition header');
  return { name, filename: dispositionParam(disposition, 'filename'), contentType: headers.get('content-type') ?? null };
}

/**
 * Parses a multipart/form-data body as a stream: parts are yielded as their headers arrive
 * and their bodies stream through, so a file of any size passes with only a few kilobytes
 * held. Web streams only, so it runs on Bun, Node and Deno alike.
 */
export async function* parseMultipart(stream: ReadableStream<Uint8Array>, boundary: string): AsyncGenerator<MultipartPart> {
  // Starting the input with CRLF lets the first delimiter be found like every other one.
  const scanner = new ByteScanner(stream, encoder.encode('\r\n'));
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  try {
    for await (const _preamble of scanner.streamUntil(delimiter));
    for (;;) {
      const after = new TextDecoder().decode(await scanner.take(2));
      if (after === '--') return;
      if (after !== '\r\n') throw new MultipartError('malformed multipart delimiter');
      const part = parseHeaders(await scanner.readUntil(encoder.encode('\r\n\r\n'), MAX_HEADER_BYTES));
      const body = scanner.streamUntil(delimiter);
      yield { ...part, body };
      // Skip whatever the consumer left unread of this part.
      for await (const _rest of body);
    }
  } catch (error) {
    if (error instanceof MultipartError) throw error;
    throw new MultipartError((error as Error).message);
  } finally {
    await scanner.cancel();
  }
}
