import { handleProtocols, makeHandler } from 'graphql-ws/use/bun';
import { upgradeHeaders, type UpgradeHeaders } from '../graphql/graphql-ws.ts';
import type { Gateway } from '../start.ts';

/** Options for {@link serveBun}. */
export interface ServeBunOptions {
  port: number;
  hostname: string;
  /** The largest upload the gateway accepts (MAX_FILE_BYTES). */
  maxFileBytes: number;
}

/**
 * Serves the gateway with Bun: `fetch` for HTTP, and graphql-ws on `/graphql` over Bun's
 * own WebSocket support. The upgrade's Authorization header travels with the socket;
 * graphql-ws checks it (or connectionParams) when the client says connection_init.
 */
export function serveBun(gateway: Pick<Gateway, 'fetch' | 'graphqlWs'>, { port, hostname, maxFileBytes }: ServeBunOptions) {
  return Bun.serve<UpgradeHeaders>({
    port,
    hostname,
    idleTimeout: 0,
    // Bun refuses bodies over 128 MB by default; uploads may be up to MAX_FILE_BYTES (plus multipart framing).
    maxRequestBodySize: maxFileBytes + 1024 * 1024,
    fetch(request, server) {
      if (request.headers.get('upgrade')?.toLowerCase() === 'websocket' && new URL(request.url).pathname === '/graphql') {
        if (!handleProtocols(request.headers.get('sec-websocket-protocol') ?? '')) {
          return new Response('Unsupported WebSocket subprotocol; use graphql-transport-ws.', { status: 400 });
        }
        if (server.upgrade(request, { data: upgradeHeaders(request.headers) })) return undefined;
        return new Response('WebSocket upgrade failed.', { status: 400 });
      }
      return gateway.fetch(request);
    },
    websocket: makeHandler(gateway.graphqlWs as Parameters<typeof makeHandler>[0]),
  });
}
