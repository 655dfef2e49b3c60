import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createHandlerRunner } from '../../fleet/handler-runner/index.ts';
import { ANY_DESTINATION, defineHandler, z } from '../../handlers/sdk/index.ts';
import { createDatabase } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { finishedBatch, runsOf } from './support/batches.ts';
import { registryOf } from './support/registry.ts';

const aborts: unknown[] = [];
const waiter = defineHandler({
  name: 'waiter',
  description: 'Waits until it is aborted (a long delivery that needs no database).',
  options: z.object({}),
  async handle(context) {
    await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }));
    aborts.push(context.signal.reason);
    throw new Error('stopped waiting');
  },
});

const logger = createLogger({ level: 'silent' });
// A login role of its own, so that this runner alone can be cut off from the handler_runs table.
const ROLE = `vbs_runner_${randomBytes(4).toString('hex')}`;

describe('a handler runner that cannot renew its leases', () => {
  const test = useTestDatabase();
  afterAll(async () => {
    await test().database.db.execute(sql.raw(`drop owned by ${ROLE}; drop role if exists ${ROLE}`));
  });

  it('interrupts its handlers before their leases run out, so that no other process runs them at the same time', async () => {
    const admin = test().database.db;
    await admin.execute(sql.raw(`create role ${ROLE} login; grant all on all tables in schema public to ${ROLE}`));
    const url = new URL(test().url);
    url.username = ROLE;
    const database = await createDatabase({ url: url.toString(), maxConnections: 2 });
    const runner = createHandlerRunner({
      database,
      registry: registryOf([waiter]),
      destinations: ANY_DESTINATION,
      logger,
      pollIntervalMs: 50,
      leaseMs: 900,
      stopGraceMs: 50,
    });
    try {
      const batchId = await finishedBatch(test().database, { handlers: { waiter: {} } });
      runner.start();
      for (let i = 0; i < 200 && (await runsOf(test().database, batchId))[0]?.status !== 'running'; i++)
        await new Promise((r) => setTimeout(r, 25));
      expect((await runsOf(test().database, batchId))[0]?.status).toBe('running');
      // The runner's renewals now fail (as during a network partition from Postgres), while other processes work on.
      await admin.execute(sql.raw(`revoke update on handler_runs from ${ROLE}`));
      for (let i = 0; i < 200 && aborts.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(aborts).toEqual(['lease lost']);
    } finally {
      await admin.execute(sql.raw(`grant update on handler_runs to ${ROLE}`));
      await runner.stop();
      await database.close();
    }
  });
});
