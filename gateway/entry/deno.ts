// The gateway on Deno: `deno run -A gateway/entry/deno.ts` (`npm run gateway:deno`).
import { ConfigError } from '../../core/env.ts';
import { loadGatewayConfig } from '../config.ts';
import { createWhatwgSocketServer, isGraphQLUpgrade } from '../graphql/whatwg-sockets.ts';
import { startGateway } from '../start.ts';

// The few Deno APIs this entry uses, declared here so `tsc` (which knows Node and Bun) checks it.
declare const Deno: {
  serve(
    options: { port: number; hostname: string; onListen?: (address: { hostname: string; port: number }) => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> };
  upgradeWebSocket(request: Request, options: { protocol: string; idleTimeout?: number }): { socket: WebSocket; response: Response };
  addSignalListener(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void;
  exit(code: number): never;
};

// Seconds without a pong before Deno drops a WebSocket: a dead client's subscriptions end.
const WEBSOCKET_IDLE_SECONDS = 60;
// SSE responses never end by themselves: shutdown waits this long for them, then exits anyway.
const SHUTDOWN_GRACE_MS = 2_000;

try {
  const config = loadGatewayConfig();
  const gateway = await startGateway(config);
  const sockets = createWhatwgSocketServer(gateway.graphqlWs);
  const server = Deno.serve(
    {
      port: config.PORT,
      hostname: config.host,
      onListen: ({ hostname, port }) => {
        const host = hostname.includes(':') ? `[${hostname}]` : hostname;
        gateway.logger.info('gateway listening', {
          url: `http://${host}:${port}`,
          database: gateway.database.kind,
          events: config.REDIS_URL ? 'redis' : 'memory',
          runtime: 'deno',
        });
      },
    },
    (request) => {
      // graphql-ws on /graphql: Deno upgrades the fetch request itself; the upgrade's
      // Authorization header (or connectionParams) is checked when the client says connection_init.
      if (isGraphQLUpgrade(request)) {
        return sockets.upgrade(request, (protocol) => Deno.upgradeWebSocket(request, { protocol, idleTimeout: WEBSOCKET_IDLE_SECONDS }));
      }
      return gateway.fetch(request);
    },
  );
  const stop = async () => {
    gateway.logger.info('gateway stopping');
    sockets.close();
    await Promise.race([server.shutdown(), new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS))]);
    await gateway.close();
    Deno.exit(0);
  };
  Deno.addSignalListener('SIGTERM', stop);
  Deno.addSignalListener('SIGINT', stop);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    Deno.exit(2);
  }
  throw error;
}
