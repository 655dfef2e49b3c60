import { CloseCode, handleProtocols, makeServer } from 'graphql-ws';
import { UPGRADE_HEADERS, type GraphQLWsServer } from './graphql-ws.ts';

// WebSocket.OPEN, spelled out: Node 20 has no global WebSocket, and this module must load there too.
const OPEN = 1;

/** A runtime's own upgrade: Deno's `upgradeWebSocket`, or a `WebSocketPair` and a 101 response. */
export type UpgradeWebSocket = (protocol: string) => { socket: WebSocket; response: Response };

/** graphql-ws served on Web-standard server sockets. */
export interface WhatwgSocketServer {
  /** Upgrades a `/graphql` request with the runtime's `upgrade` and speaks graphql-ws on the socket. */
  upgrade(request: Request, upgrade: UpgradeWebSocket): Response;
  /** Closes every open socket (1001, going away): their subscriptions end. */
  close(): void;
}

/** True when a request asks to upgrade `/graphql` to a WebSocket. */
export function isGraphQLUpgrade(request: Request): boolean {
  return request.headers.get('upgrade')?.toLowerCase() === 'websocket' && new URL(request.url).pathname === '/graphql';
}

/**
 * Serves the gateway's graphql-ws options (`createGraphQLWs`) on sockets that follow the
 * WHATWG WebSocket interface, for runtimes that upgrade a fetch request themselves (Deno,
 * edge platforms). The upgrade's `Authorization` header counts as on HTTP; a client that
 * does not offer the graphql-transport-ws subprotocol gets a 400.
 */
export function createWhatwgSocketServer(options: GraphQLWsServer): WhatwgSocketServer {
  const server = makeServer(options);
  const sockets = new Set<WebSocket>();
  const serve = (socket: WebSocket, protocol: string, headers: Headers) => {
    sockets.add(socket);
    let receive: ((data: string) => Promise<void>) | undefined;
    let closed: ((code?: number, reason?: string) => Promise<void>) | undefined;
    const open = () => {
      closed = server.opened(
        {
          // Deno's upgraded socket reports an empty protocol: the one agreed on is known here.
          protocol: socket.protocol || protocol,
          send: (message) => {
            // A subscription may still emit after the client went away.
            if (socket.readyState === OPEN) socket.send(message);
          },
          close: (code, reason) => socket.close(code, reason),
          onMessage: (callback) => {
            receive = callback;
          },
        },
        { request: { headers } },
      );
    };
    socket.addEventListener('message', async (event) => {
      try {
        await receive?.(String(event.data));
      } catch {
        socket.close(CloseCode.InternalServerError, 'Internal server error');
      }
    });
    socket.addEventListener('close', (event) => {
      sockets.delete(socket);
      closed?.(event.code, event.reason).catch(() => {});
    });
    if (socket.readyState === OPEN) open();
    else socket.addEventListener('open', open, { once: true });
  };
  return {
    upgrade(request, upgrade) {
      const protocol = handleProtocols(request.headers.get('sec-websocket-protocol') ?? '');
      if (!protocol) return new Response('Unsupported WebSocket subprotocol; use graphql-transport-ws.', { status: 400 });
      // Deno closes the request as it upgrades it: copy the headers the connection is authenticated by first.
      const headers = new Headers();
      for (const name of UPGRADE_HEADERS) {
        const value = request.headers.get(name);
        if (value !== null) headers.set(name, value);
      }
      const { socket, response } = upgrade(protocol);
      serve(socket, protocol, headers);
      return response;
    },
    close() {
      for (const socket of sockets) socket.close(1001, 'The gateway is shutting down.');
    },
  };
}
