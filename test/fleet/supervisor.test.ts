import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { loadSupervisorConfig } from '../../fleet/config.ts';
import { RUNTIMES } from '../../fleet/supervisor/runtimes.ts';
import { createSupervisor } from '../../fleet/supervisor/supervisor.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { eventually } from './helpers.ts';

describe('the supervisor (in-process)', () => {
  const test = useTestDatabase();
  afterEach(() => {
    delete RUNTIMES['absent-runtime'];
  });

  it('restarts a worker whose process could not even be started, and still stops when asked', async () => {
    const { database, url } = test();
    // A runtime whose binary is missing: spawning fails with ENOENT, and no 'exit' follows.
    RUNTIMES['absent-runtime'] = () => ({ command: '/nonexistent/vbs-runtime', args: [], env: {} });
    const lines: string[] = [];
    const supervisor = createSupervisor({
      args: {
        gpus: ['0'],
        engineUrls: ['http://127.0.0.1:9'],
        engine: null,
        engineCmd: null,
        enginePort: 8000,
        model: null,
        runtime: 'absent-runtime',
        host: 'supervised-host',
        metricsPort: null,
      },
      config: loadSupervisorConfig({ DATABASE_URL: url }),
      database,
      bus: createMemoryBus(),
      logger: createLogger({ level: 'info', write: (line) => lines.push(line) }),
    });
    supervisor.start();
    await eventually(async () => lines.some((l) => l.includes('"msg":"restarting worker"')), 10_000, 'a restart to be scheduled');
    const outcome = await Promise.race([
      supervisor.stop().then(() => 'stopped'),
      new Promise((r) => setTimeout(() => r('still waiting'), 10_000)),
    ]);
    expect(outcome, lines.join('\n')).toBe('stopped');
  });
});
