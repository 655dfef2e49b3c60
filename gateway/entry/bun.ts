import { ConfigError } from '../../core/env.ts';
import { loadGatewayConfig } from '../config.ts';
import { startGateway } from '../start.ts';
import { serveBun } from './serve-bun.ts';

try {
  const config = loadGatewayConfig();
  const gateway = await startGateway(config);
  const server = serveBun(gateway, { port: config.PORT, hostname: config.host, maxFileBytes: config.MAX_FILE_BYTES });
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
