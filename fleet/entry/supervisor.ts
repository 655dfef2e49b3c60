// The supervisor: `npm run fleet -- --gpus 0,1 --engine vllm` (or --engine-url URL0,URL1, or --engine-cmd TEMPLATE for another engine).
import { ConfigError } from '../../core/env.ts';
import { createEventBus } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createDatabase, runMigrations } from '../../schema/index.ts';
import { loadSupervisorConfig } from '../config.ts';
import { FLEET_USAGE, parseSupervisorArgs, type SupervisorArgs } from '../supervisor/args.ts';
import { createSupervisor } from '../supervisor/supervisor.ts';

let args: SupervisorArgs;
try {
  args = parseSupervisorArgs(process.argv.slice(2));
} catch (error) {
  console.error(`${(error as Error).message}\n${FLEET_USAGE}`);
  process.exit(2);
}

try {
  const config = loadSupervisorConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, fields: { service: 'supervisor', host: args.host } });
  const database = await createDatabase({ url: config.DATABASE_URL, maxConnections: 2, applicationName: 'vbs-supervisor' });
  await runMigrations(database);
  const bus = await createEventBus({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, logger });
  const supervisor = createSupervisor({ args, config, database, bus, logger });
  supervisor.start();
  logger.info('supervisor running', { gpus: args.gpus, engine: args.engine ?? args.engineUrls ?? args.engineCmd, runtime: args.runtime });
  const stop = () => void supervisor.stop();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const code = await supervisor.finished;
  await bus.close();
  await database.close();
  logger.info('supervisor stopped', { code });
  process.exit(code);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}
