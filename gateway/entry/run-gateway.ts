import { surviveConnectionLoss } from '../../core/connection-loss.ts';
import { ConfigError } from '../../core/env.ts';
import { loadGatewayConfig, type GatewayConfig } from '../config.ts';
import { startGateway, type Gateway } from '../start.ts';

/** A runtime's server for a started gateway: where it listens, and how to stop it. */
export interface ServedGateway {
  url: string;
  close(): Promise<void>;
}

/**
 * The program of a Node-compatible runtime's entry (Bun, Node): reads the configuration,
 * starts the gateway, serves it with `serve`, stops on SIGTERM/SIGINT, and exits 2 naming
 * every bad variable when the configuration does not validate.
 */
export async function runGateway(
  runtime: string,
  serve: (gateway: Gateway, config: GatewayConfig) => Promise<ServedGateway> | ServedGateway,
): Promise<void> {
  try {
    const config = loadGatewayConfig();
    const gateway = await startGateway(config);
    surviveConnectionLoss(gateway.logger);
    const server = await serve(gateway, config);
    gateway.logger.info('gateway listening', {
      url: server.url,
      database: gateway.database.kind,
      events: config.REDIS_URL ? 'redis' : 'memory',
      runtime,
    });
    const stop = async () => {
      await server.close();
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
}
