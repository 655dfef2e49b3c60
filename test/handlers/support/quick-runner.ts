import { afterEach } from 'vitest';
import { createLogger } from '../../../core/logger.ts';
import { createHandlerRunner, type HandlerRunner } from '../../../fleet/handler-runner/index.ts';
import { ANY_DESTINATION, type HandlerRegistry } from '../../../handlers/sdk/index.ts';
import type { Database } from '../../../schema/index.ts';

/**
 * A handler runner for a test file that polls every 50 ms and retries after 10–20 ms, so that
 * runs end within a test; started by `start()`, stopped after each test. `nudge()` wakes it
 * when one is running (as a NOTIFY would).
 */
export function useQuickRunner(registry: HandlerRegistry, database: () => Database, options: { resultsPageSize?: number } = {}) {
  let runner: HandlerRunner | undefined;
  afterEach(async () => {
    await runner?.stop();
    runner = undefined;
  });
  return {
    start() {
      runner = createHandlerRunner({
        database: database(),
        registry,
        destinations: ANY_DESTINATION,
        logger: createLogger({ level: 'silent' }),
        pollIntervalMs: 50,
        backoff: { baseMs: 10, maxMs: 20 },
        ...options,
      });
      runner.start();
    },
    nudge: () => runner?.nudge(),
  };
}
