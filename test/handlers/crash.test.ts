import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createHandlerRunner } from '../../fleet/handlers/index.ts';
import { loadHandlers } from '../../handlers/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start } from '../helpers/processes.ts';
import { finishedBatch, runsEnded, runsOf } from './support/batches.ts';

const MANIFEST = fileURLToPath(new URL('./support/slow-manifest/manifest.json', import.meta.url));

describe('a handler run whose process is killed', () => {
  const test = useTestDatabase();

  it('is finished by another process once the lease of the killed one expires', async () => {
    const { database, url } = test();
    const batchId = await finishedBatch(database, { handlers: { slow: {} } });
    const doomed = start(BUN, ['test/handlers/support/runner-process.ts'], {
      env: { DATABASE_URL: url, HANDLER_MANIFESTS: MANIFEST, RUNNER_LEASE_MS: '1500' },
    });
    try {
      await doomed.waitFor(/slow handler is running/, 30_000);
    } finally {
      await doomed.stop('SIGKILL');
    }
    expect((await runsOf(database, batchId))[0]).toMatchObject({ status: 'running', attempts: 1 });

    const registry = await loadHandlers({ manifests: [MANIFEST], env: {} });
    const survivor = createHandlerRunner({ database, registry, logger: createLogger({ level: 'silent' }), pollIntervalMs: 100 });
    survivor.start();
    try {
      const [run] = await runsEnded(database, batchId);
      expect(run).toMatchObject({
        status: 'succeeded',
        attempts: 2,
        last_error: 'attempt 1 did not finish: the process running it stopped (its lease expired)',
        result: { finishedOnAttempt: 2, checkpoint: { started: true } },
      });
    } finally {
      await survivor.stop();
    }
  });
});
