import type { MiddlewareHandler } from 'hono';
import { AppError } from '../core/errors.ts';

/** Options for {@link createJsonBodyLimit}. */
export interface JsonBodyLimitOptions {
  /** MAX_JSON_BODY_BYTES. */
  maxBytes: number;
  /**
   * The bound of multipart bodies (GraphQL uploads, which the GraphQL server reads whole):
   * they stream on, counted, and fail once past it. Absent, they are bounded by `maxBytes`.
   */
  multipartMaxBytes?: number;
  /** The response for a body over the limit, in the shape the route's clients expect. */
  tooLarge: (error: AppError) => Response;
}

const tooLargeError = (maxBytes: number) =>
  new AppError(
    'PAYLOAD_TOO_LARGE',
    `The request body is larger than ${maxBytes} bytes (MAX_JSON_BODY_BYTES); send less at once, or upload large batches as a file.`,
  );

const multipartTooLargeError = (maxBytes: number) =>
  new AppError(
    'PAYLOAD_TOO_LARGE',
    `The multipart body is larger than ${maxBytes} bytes (MAX_FILE_BYTES and MAX_JSON_BODY_BYTES together); send large files to POST /v1/files, which streams them.`,
  );

/** The body as a stream that fails (and stops reading the original) once more than `maxBytes` have passed. */
function bounded(body: ReadableStream<Uint8Array>, maxBytes: number): ReadableStream<Uint8Array> {
  let bytes = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        if (bytes > maxBytes) controller.error(multipartTooLargeError(maxBytes));
        else controller.enqueue(chunk);
      },
    }),
  );
}

/**
 * Bounds the bodies of requests that are read whole (JSON): refused at once when the
 * Content-Length says too much, otherwise read up to the limit and handed on as bytes.
 * Whatever the content type claims: a route that parses JSON reads a body labelled
 * multipart just as whole. Multipart bodies get their own bound where one is given.
 */
export function createJsonBodyLimit({ maxBytes, multipartMaxBytes, tooLarge }: JsonBodyLimitOptions): MiddlewareHandler {
  return async function jsonBodyLimit(c, next) {
    const request = c.req.raw;
    if (!request.body) return next();
    const multipart = (c.req.header('content-type') ?? '').toLowerCase().startsWith('multipart/');
    if (multipart && multipartMaxBytes !== undefined) {
      if (Number(c.req.header('content-length') ?? 0) > multipartMaxBytes) return tooLarge(multipartTooLargeError(multipartMaxBytes));
      const body = bounded(request.body, multipartMaxBytes);
      c.req.raw = new Request(request.url, {
        method: request.method,
        headers: request.headers,
        body,
        signal: request.signal,
        duplex: 'half',
      } as RequestInit);
      return next();
    }
    if (Number(c.req.header('content-length') ?? 0) > maxBytes) return tooLarge(tooLargeError(maxBytes));
    const reader = request.body.getReader();
    const pieces: Uint8Array[] = [];
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      if (bytes > maxBytes) {
        await reader.cancel().catch(() => {});
        return tooLarge(tooLargeError(maxBytes));
      }
      pieces.push(value);
    }
    const body = new Uint8Array(bytes);
    let offset = 0;
    for (const piece of pieces) {
      body.set(piece, offset);
      offset += piece.byteLength;
    }
    c.req.raw = new Request(request.url, { method: request.method, headers: request.headers, body, signal: request.signal });
    return next();
  };
}
