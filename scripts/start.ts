// `npm start`: the whole system in one Bun process: gateway, one worker and (without ENGINE_URL,
// ENGINE or ENGINE_CMD) the built-in vLLM simulator, sharing one database (embedded PGlite under DATA_DIR
// unless DATABASE_URL is set) and one in-process event bus (Redis with REDIS_URL).
import { ConfigError } from '../core/env.ts';
import { createEventBus } from '../core/events/index.ts';
import { createLogger } from '../core/logger.ts';
import { handlerRunnerLoop, loadFleetHandlers } from '../fleet/handler-runner/index.ts';
import { createSimulator } from '../fleet/sim/index.ts';
import { startWorkerProcess } from '../fleet/worker/worker-process.ts';
import { createApp } from '../gateway/app.ts';
import { requireSecretsKey } from '../gateway/batches/secrets-key.ts';
import { serveBun } from '../gateway/entry/serve-bun.ts';
import { createDatabase, runMigrations } from '../schema/index.ts';
import { loadEmbeddedConfig } from './embedded/config.ts';

try {
  const { gateway: config, worker: checkedWorkerConfig, simulator: simArgs, manifestEnv } = loadEmbeddedConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, fields: { service: 'embedded' } });
  const simulator = simArgs ? createSimulator(simArgs) : null;
  const simServer =
    simulator && simArgs ? Bun.serve({ port: simArgs.port, hostname: '127.0.0.1', fetch: simulator.fetch, idleTimeout: 0 }) : null;
  const engineUrl = simServer ? `http://127.0.0.1:${simServer.port}` : undefined;
  const workerConfig = engineUrl ? { ...checkedWorkerConfig, ENGINE_URL: engineUrl } : checkedWorkerConfig;
  const handlers = await loadFleetHandlers({ HANDLER_MANIFESTS: config.HANDLER_MANIFESTS, manifestEnv });
  const unsealed = requireSecretsKey(config, handlers);
  if (unsealed) logger.info(unsealed);

  const database = await createDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, applicationName: 'vbs-embedded' });
  await runMigrations(database);
  const bus = await createEventBus({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, logger });
  const app = createApp({ config, database, logger: logger.child({ service: 'gateway' }), bus, handlers });
  app.validator.startSweeping();
  const server = serveBun(app, { port: config.PORT, hostname: config.host, maxFileBytes: config.MAX_FILE_BYTES });
  const worker = await startWorkerProcess(workerConfig, {
    database,
    bus,
    logger: createLogger({ level: config.LOG_LEVEL, fields: { service: 'worker' } }),
    loops: [
      handlerRunnerLoop(handlers, {
        leaseMs: workerConfig.HANDLER_LEASE_MS,
        concurrency: workerConfig.HANDLER_CONCURRENCY,
        destinations: workerConfig.destinations,
        secrets: workerConfig.secrets,
      }),
    ],
  });
  if (simArgs) {
    logger.warn(
      'THE ENGINE IS SIMULATED: no ENGINE_URL, ENGINE or ENGINE_CMD is set, so requests are answered by the built-in vLLM simulator ' +
        '(made-up text, no GPU). Set ENGINE_URL to a vLLM server, or ENGINE=vllm to start one, for real inference.',
      { simulatorUrl: engineUrl, models: simArgs.models, slots: simArgs.slots },
    );
  }
  logger.info('gateway listening', {
    url: `http://${config.host}:${server.port}`,
    database: database.kind,
    engine: simArgs
      ? 'simulated'
      : (workerConfig.ENGINE_URL ?? (workerConfig.ENGINE ? `${workerConfig.ENGINE} (${workerConfig.VLLM_BIN})` : workerConfig.ENGINE_CMD)),
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await worker.stop();
    await server.stop(true);
    await app.close();
    simulator?.close();
    await simServer?.stop(true);
    await bus.close();
    await database.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}
