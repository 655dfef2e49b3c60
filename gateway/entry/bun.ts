import { ConfigError } from '../../core/env.ts';
import { loadGatewayConfig } from '../config.ts';
import { startGateway } from '../start.ts';

try {
  const config = loadGatewayConfig();
  const gateway = await startGateway(config);
  const server = Bun.serve({ port: config.PORT, hostname: config.host, fetch: gateway.fetch, idleTimeout: 0 });
  gateway.logger.info('gateway listening', { url: `http://${config.host}:${server.port}`, database: gateway.database.kind });
  const stop = async () => {
    await server.stop();
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
