import { CliError, EXIT } from './exit-codes.ts';

/** One server-sent event. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Parses a `text/event-stream` body into events (the WHATWG format: `event:` and `data:`
 * fields, a blank line ends an event, lines starting with `:` are comments/keep-alives).
 * It ends when the body does or when `signal` aborts; with `idleMs`, nothing at all
 * arriving for that long (a half-open connection) is an error with exit 3.
 */
export async function* readSse(body: ReadableStream<Uint8Array>, signal?: AbortSignal, idleMs = 0): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  // Not every fetch ties the body to the request's signal (an in-process app does not): cancel the read here.
  const stop = () => void reader.cancel().catch(() => {});
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted) stop();
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = idleMs > 0 ? await withinIdle(reader.read(), idleMs) : await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r?\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer[newline] === '\r' ? 2 : 1));
        if (line === '') {
          if (data.length) yield { event, data: data.join('\n') };
          else if (event !== 'message') yield { event, data: '' };
          event = 'message';
          data = [];
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
        }
      }
    }
  } finally {
    signal?.removeEventListener('abort', stop);
    await reader.cancel().catch(() => {});
  }
}

function withinIdle<T>(read: Promise<T>, idleMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new CliError(
            EXIT.UNAVAILABLE,
            `The gateway sent nothing for ${Math.round(idleMs / 1000)} s, not even a keep-alive; the connection is gone.`,
          ),
        ),
      idleMs,
    );
  });
  return Promise.race([read, silence]).finally(() => clearTimeout(timer));
}
