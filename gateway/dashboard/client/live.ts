import { createClient, type Client } from 'graphql-ws/client';
import type { KeyStore } from './key-store.ts';

/** Options for {@link createLive}. */
export interface LiveOptions {
  keys: KeyStore;
  /** Called when the gateway refuses the key on the socket (close code 4403). */
  onUnauthorized(message: string): void;
  /** Called with the connection state, for the indicator in the header. */
  onState?(state: 'connecting' | 'live' | 'offline'): void;
}

/** Handlers of one subscription. */
export interface Sink<T> {
  next(data: T): void;
  error?(message: string): void;
  complete?(): void;
}

/** Live data: GraphQL subscriptions over one WebSocket (graphql-ws), shared by every view of the page. */
export interface Live {
  /** Starts a subscription; returns what stops it. */
  subscribe<T>(query: string, variables: Record<string, unknown>, sink: Sink<T>): () => void;
}

const FORBIDDEN = 4403;

/**
 * Creates the page's subscription client. One socket carries every subscription (a browser
 * opens at most six HTTP/1.1 connections to a host, so one SSE stream per running batch would
 * starve the page's own requests). It reconnects by itself, except when the key is refused.
 */
export function createLive({ keys, onUnauthorized, onState }: LiveOptions): Live {
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql`;
  const client: Client = createClient({
    url,
    // Always connected, so the header tells whether live updates flow (and a refused key shows at once).
    lazy: false,
    keepAlive: 10_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: (event) => (event as CloseEvent).code !== FORBIDDEN,
    connectionParams: () => keys.headers(),
    on: {
      connecting: () => onState?.('connecting'),
      connected: () => onState?.('live'),
      closed: (event) => {
        onState?.('offline');
        if ((event as CloseEvent).code === FORBIDDEN) onUnauthorized('The gateway refused the API key for live updates.');
      },
    },
  });
  return {
    subscribe<T>(query: string, variables: Record<string, unknown>, sink: Sink<T>) {
      return client.subscribe<T>(
        { query, variables },
        {
          next: (result) => {
            if (result.errors?.length) sink.error?.(result.errors.map((e) => e.message).join('; '));
            else if (result.data) sink.next(result.data as T);
          },
          error: (error) =>
            sink.error?.(
              error instanceof Error
                ? error.message
                : Array.isArray(error)
                  ? error.map((e) => e.message).join('; ')
                  : 'the live connection closed',
            ),
          complete: () => sink.complete?.(),
        },
      );
    },
  };
}
