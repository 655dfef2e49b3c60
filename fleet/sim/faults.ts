import { engineError } from './errors.ts';

/** A JSON response, as FastAPI's JSONResponse sends it. */
export const json = (body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json', ...headers } });

/** A request the engine never answers; it ends when the client gives up. */
export const hang = (request: Request) =>
  new Promise<Response>((resolve) => request.signal.addEventListener('abort', () => resolve(engineError(500, 'aborted')), { once: true }));

/**
 * A reply that is not what an engine sends: for half the rolls a 200 that breaks its promise
 * (an SSE stream whose events are not JSON, or a truncated JSON body), for the other half a 502
 * of binary junk (NUL bytes, invalid UTF-8), as a broken proxy in front of an engine may answer.
 */
export function garbage(streaming: boolean, roll: number): Response {
  if (roll < 0.5)
    return new Response(new Uint8Array([0x3c, 0x68, 0x31, 0x3e, 0x00, 0xff, 0xfe, 0x00, 0x35, 0x30, 0x32, 0x00]), {
      status: 502,
      headers: { 'content-type': 'text/html' },
    });
  return streaming
    ? new Response(
        'data: {"id":"garbage","choices":[{"delta":{"content":"trunc\n\ndata: <html>502 Bad Gateway</html>\n\ndata: [DONE]\n\n',
        {
          headers: { 'content-type': 'text/event-stream' },
        },
      )
    : new Response('{"id":"garbage","object":"chat.completion","choices":[{"mess', { headers: { 'content-type': 'application/json' } });
}
