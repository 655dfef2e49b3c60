import type { MiddlewareHandler } from 'hono';
import { AppError } from '../core/errors.ts';

/** Options for {@link createJsonBodyLimit}. */
export interface JsonBodyLimitOptions {
  /** MAX_JSON_BODY_BYTES. */
  maxBytes: number;
  /** The bound of multipart bodies, `Infinity` to pass them untouched; absent, they are bounded by `maxBytes` like any other. */
  multipartMaxBytes?: number;
  /** The response for a body over the limit, in the shape the route's clients expect. */
  tooLarge: (error: AppError) => Response;
}

const tooLargeError = (maxBytes: number) =>
  new AppError('PAYLOAD_TOO_LARGE', `The request body is larger than ${maxBytes} bytes (MAX_JSON_BODY_BYTES); send less at once, or upload large batches as a file.`);

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
    if (multipart && multipartMaxBytes === Infinity) return next();
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
