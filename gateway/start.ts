import { ConfigError } from '../core/env.ts';
import { createEventBus, type EventBus } from '../core/events/index.ts';
import { loadHandlers, splitManifestList } from '../handlers/index.ts';
import { ManifestError } from '../handlers/sdk/index.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { createDatabase, runMigrations, type Database } from '../schema/index.ts';
import { createApp } from './app.ts';
import type { BatchValidator } from './batches/batch-validator.ts';
import { createFleetSampler } from './charts/fleet-sampler.ts';
import { requireSecretsKey } from './batches/secrets-key.ts';
import type { GatewayConfig } from './config.ts';

/** A started gateway: its fetch handler, and how to stop what it opened. */
export interface Gateway {
  fetch: (request: Request) => Response | Promise<Response>;
  database: Database;
  logger: Logger;
  /** The event bus: Redis pub/sub with REDIS_URL, in-process without. */
  bus: EventBus;
  /** graphql-ws server options: each runtime entry serves them on `/graphql` with its own WebSocket support. */
  graphqlWs: ReturnType<typeof createApp>['graphqlWs'];
  /** Validates new batches in the background (an edge entry hands `idle()` to the platform's `waitUntil`). */
  validator: BatchValidator;
  close(): Promise<void>;
}

/** What a process that runs more than the gateway (embedded mode) shares with it. */
export interface StartGatewayOptions {
  /** An event bus opened by the caller (it stays open when the gateway closes). */
  bus?: EventBus;
  /** Applies pending migrations first (default true); an edge deployment migrates once, when it is deployed. */
  migrate?: boolean;
  /**
   * Sweeps for abandoned validations and samples the fleet for the charts on timers (default
   * true); an edge isolate sweeps on requests instead, and samples nothing.
   */
  sweep?: boolean;
}

/** Opens the database, applies migrations and builds the app; the runtime entry serves `fetch`. */
export async function startGateway(config: GatewayConfig, options: StartGatewayOptions = {}): Promise<Gateway> {
  const logger = createLogger({ level: config.LOG_LEVEL, fields: { service: 'gateway' } });
  // Before anything is opened: a bad manifest stops start-up with its file and problem.
  const handlers = await loadHandlers({ manifests: splitManifestList(config.HANDLER_MANIFESTS), env: config.manifestEnv ?? {} }).catch(
    (error: unknown) => {
      throw error instanceof ManifestError ? new ConfigError([{ variable: 'HANDLER_MANIFESTS', expected: error.message }]) : error;
    },
  );
  const unsealed = requireSecretsKey(config, handlers);
  if (unsealed) logger.info(unsealed);
  const database = await createDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, applicationName: 'vbs-gateway' });
  if (options.migrate !== false) await runMigrations(database);
  const bus = options.bus ?? (await createEventBus({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, logger }));
  const app = createApp({ config, database, logger, bus, handlers });
  // Batches left validating by a gateway that died are picked up here (now, then periodically).
  if (options.sweep !== false) app.validator.startSweeping();
  // The dashboard's fleet charts read the samples; every replica samples, the first of a slot writes it.
  const sampler = createFleetSampler({ database, logger });
  if (options.sweep !== false) sampler.start();
  return {
    fetch: app.fetch,
    database,
    logger,
    bus,
    graphqlWs: app.graphqlWs,
    validator: app.validator,
    async close() {
      sampler.stop();
      await app.close();
      if (!options.bus) await bus.close();
      await database.close();
    },
  };
}
