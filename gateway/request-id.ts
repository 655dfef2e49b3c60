import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../core/logger.ts';

/** The response header (and accepted request header) that names one request. */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * A client's own id is kept when it is 1 to 200 characters of letters, digits and `-_.:/+=@`
 * (UUIDs, ULIDs, OpenAI's `req_…`, trace ids, base64); anything else could forge log
 * lines or break a header, and is replaced by a new id.
 */
const ACCEPTED = /^[A-Za-z0-9._:/+=@-]{1,200}$/;

/** The id of a request: the client's `X-Request-Id` when it is acceptable, else a new `req_` and 32 hex digits. */
export function requestIdFor(given: string | null | undefined): string {
  if (given && ACCEPTED.test(given)) return given;
  return `req_${crypto.randomUUID().replaceAll('-', '')}`;
}

/** Options for {@link createRequestId}. */
export interface RequestIdOptions {
  logger: Logger;
}

/**
 * Names every request: sets the `requestId` and a child `log` (every line with
 * `http_request_id`) on the context, and answers with `x-request-id`, errors included.
 */
export function createRequestId({ logger }: RequestIdOptions): MiddlewareHandler<{ Variables: { requestId: string; log: Logger } }> {
  return async function assignRequestId(c, next) {
    const id = requestIdFor(c.req.header(REQUEST_ID_HEADER));
    c.set('requestId', id);
    c.set('log', logger.child({ http_request_id: id }));
    await next();
    try {
      c.res.headers.set(REQUEST_ID_HEADER, id);
    } catch {
      // A response whose headers are immutable (one passed through from fetch): copied with the header.
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set(REQUEST_ID_HEADER, id);
    }
  };
}
