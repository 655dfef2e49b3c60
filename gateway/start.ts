import { createLogger, type Logger } from '../core/logger.ts';
import { createDatabase, runMigrations, type Database } from '../schema/index.ts';
import { createApp } from './app.ts';
import type { GatewayConfig } from './config.ts';

/** A started gateway: its fetch handler, and how to stop what it opened. */
export interface Gateway {
  fetch: (request: Request) => Response | Promise<Response>;
  database: Database;
  logger: Logger;
  close(): Promise<void>;
}

/** Opens the database, applies migrations and builds the app; the runtime entry serves `fetch`. */
export async function startGateway(config: GatewayConfig): Promise<Gateway> {
  const logger = createLogger({ level: config.LOG_LEVEL, fields: { service: 'gateway' } });
  const database = await createDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, applicationName: 'vbs-gateway' });
  await runMigrations(database);
  const app = createApp({ config, database, logger });
  return {
    fetch: app.fetch,
    database,
    logger,
    close: () => database.close(),
  };
}
