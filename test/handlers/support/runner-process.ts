// A fleet process that only runs handlers, for the crash test: `bun test/handlers/support/runner-process.ts`.
// Environment: DATABASE_URL, HANDLER_MANIFESTS, RUNNER_LEASE_MS.
import { createLogger } from '../../../core/logger.ts';
import { createHandlerRunner } from '../../../fleet/handlers/index.ts';
import { loadHandlers, splitManifestList } from '../../../handlers/index.ts';
import { createDatabase } from '../../../schema/index.ts';

const logger = createLogger({ level: 'info', fields: { service: 'test-runner' } });
const database = await createDatabase({ url: process.env.DATABASE_URL, maxConnections: 2 });
const registry = await loadHandlers({ manifests: splitManifestList(process.env.HANDLER_MANIFESTS), env: process.env });
const runner = createHandlerRunner({ database, registry, logger, pollIntervalMs: 50, leaseMs: Number(process.env.RUNNER_LEASE_MS ?? 1000) });
runner.start();
process.on('SIGTERM', async () => {
  await runner.stop();
  await database.close();
  process.exit(0);
});
