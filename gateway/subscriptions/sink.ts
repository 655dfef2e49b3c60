/** Options for {@link createSink}. */
export interface SinkOptions {
  /**
   * `latest` keeps only the newest undelivered value (progress snapshots: a slow client
   * skips to the present); `queue` keeps up to `limit` values and then drops the oldest.
   */
  mode: 'latest' | 'queue';
  limit?: number;
  /** Called once when the consumer stops (it returned, or the stream ended and was drained). */
  onClose?: () => void;
}

/** The producer side of a subscription stream; the consumer side is an async iterator. */
export interface Sink<T> extends AsyncIterableIterator<T> {
  push(value: T): void;
  /** Ends the stream once what is buffered has been delivered. */
  end(): void;
  readonly closed: boolean;
}

/**
 * A push-to-pull stream for one subscriber. Written by hand rather than as an async
 * generator because a generator suspended in `await` cannot be returned from: a client
 * that disconnects from a quiet subscription would never be cleaned up.
 */
export function createSink<T>({ mode, limit = 1_000, onClose }: SinkOptions): Sink<T> {
  const buffer: T[] = [];
  let waiting: ((result: IteratorResult<T>) => void) | null = null;
  let ended = false;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    onClose?.();
  };
  const done = (): IteratorResult<T> => ({ done: true, value: undefined });
  const sink: Sink<T> = {
    get closed() {
      return closed;
    },
    push(value) {
      if (ended || closed) return;
      if (waiting) {
        const resolve = waiting;
        waiting = null;
        resolve({ done: false, value });
        return;
      }
      if (mode === 'latest') buffer.length = 0;
      else if (buffer.length >= limit) buffer.shift();
      buffer.push(value);
    },
    end() {
      ended = true;
      if (waiting && buffer.length === 0) {
        const resolve = waiting;
        waiting = null;
        close();
        resolve(done());
      }
    },
    next() {
      if (buffer.length > 0) return Promise.resolve({ done: false, value: buffer.shift()! });
      if (ended || closed) {
        close();
        return Promise.resolve(done());
      }
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return() {
      buffer.length = 0;
      ended = true;
      close();
      if (waiting) {
        const resolve = waiting;
        waiting = null;
        resolve(done());
      }
      return Promise.resolve(done());
    },
    throw(error) {
      sink.return!();
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return sink;
    },
  };
  return sink;
}
