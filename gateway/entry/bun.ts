import { handleProtocols, makeHandler } from 'graphql-ws/use/bun';
import { ConfigError } from '../../core/env.ts';
import { loadGatewayConfig } from '../config.ts';
import { startGateway } from '../start.ts';

try {
  const config = loadGatewayConfig();
  const gateway = await startGateway(config);
  const server = Bun.serve<{ authorization: string | null }>({
    port: config.PORT,
    hostname: config.host,
    idleTimeout: 0,
    // Bun refuses bodies over 128 MB by default; uploads may be up to MAX_FILE_BYTES (plus multipart framing).
    maxRequestBodySize: config.MAX_FILE_BYTES + 1024 * 1024,
    fetch(request, server) {
      // graphql-ws on /graphql: the upgrade's Authorization header travels with the socket;
      // graphql-ws checks it (or connectionParams) when the client says connection_init.
      if (request.headers.get('upgrade')?.toLowerCase() === 'websocket' && new URL(request.url).pathname === '/graphql') {
        if (!handleProtocols(request.headers.get('sec-websocket-protocol') ?? '')) {
          return new Response('Unsupported WebSocket subprotocol; use graphql-transport-ws.', { status: 400 });
        }
        if (server.upgrade(request, { data: { authorization: request.headers.get('authorization') } })) return undefined;
        return new Response('WebSocket upgrade failed.', { status: 400 });
      }
      return gateway.fetch(request);
    },
    websocket: makeHandler(gateway.graphqlWs as Parameters<typeof makeHandler>[0]),
  });
  gateway.logger.info('gateway listening', { url: `http://${config.host}:${server.port}`, database: gateway.database.kind, events: config.REDIS_URL ? 'redis' : 'memory', runtime: 'bun' });
  const stop = async () => {
    await server.stop(true);
    await gateway.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}
