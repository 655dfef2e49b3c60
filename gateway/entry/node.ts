import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Gateway } from '../start.ts';
import { runGateway } from './run-gateway.ts';

/** A gateway served on Node. */
export interface NodeServer {
  url: string;
  /** Stops accepting, drops open streams and sockets (the gateway itself stays open). */
  close(): Promise<void>;
}

/** Options for {@link serveNode}. */
export interface ServeNodeOptions {
  port: number;
  hostname: string;
  /** The largest WebSocket message read (MAX_JSON_BODY_BYTES; by default 16 MiB, as Bun's); `ws` would read 100 MiB, before authentication. */
  maxMessageBytes?: number;
}

/** Serves a started gateway on Node: @hono/node-server for HTTP and SSE, `ws` + graphql-ws for WebSocket on `/graphql`. */
export async function serveNode(
  gateway: Gateway,
  { port, hostname, maxMessageBytes = 16 * 1024 * 1024 }: ServeNodeOptions,
): Promise<NodeServer> {
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: gateway.fetch, port, hostname }, () => resolve(s as Server)) as Server;
  });
  const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: maxMessageBytes });
  const graphqlWs = useServer(gateway.graphqlWs as Parameters<typeof useServer>[0], wss);
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${bound}`,
    async close() {
      await graphqlWs.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Run as a program (`node --import <a TypeScript loader> gateway/entry/node.ts`, or under Bun); imported, it only exports serveNode.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runGateway('node', (gateway, config) =>
    serveNode(gateway, { port: config.PORT, hostname: config.host, maxMessageBytes: config.MAX_JSON_BODY_BYTES }),
  );
}
