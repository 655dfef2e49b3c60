import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import {
  completeRequests,
  createDatabase,
  heartbeatLeases,
  leaseRequests,
  stopRequests,
  type Database,
  type LeasedRequest,
  type RequestResult,
} from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { eventually } from '../fleet/helpers.ts';
import { insertBatch } from './batch-fixtures.ts';

const result = (r: LeasedRequest): RequestResult => ({
  id: r.id,
  rangeId: r.rangeId,
  batchId: r.batchId,
  line: r.line,
  startedAtMs: null,
  status: 'succeeded',
  statusCode: 200,
  response: '{}',
  engineRequestId: null,
  error: null,
  promptTokens: 1,
  completionTokens: 1,
});

/** The worker's other statements over its leased ranges, each run on a connection of its own. */
const others = {
  'a heartbeat': (db: Database, ids: number[]) => heartbeatLeases(db.db, { owner: 'w', leaseMs: 60_000, ids }),
  'stopping the ranges of a cancelled batch': (db: Database, ids: number[]) => stopRequests(db.db, 'w', ids),
};

/**
 * A worker writes results, beats its leases and stops ranges of cancelled batches on separate
 * connections at once, over the same range rows. Every statement must lock them in one order
 * (by id), or two of them deadlock and Postgres kills one: a lost heartbeat, or a write to redo.
 */
describe("statements over a worker's leased ranges", () => {
  const test = useTestDatabase();
  const opened: (Database | postgres.Sql)[] = [];
  afterAll(async () => {
    for (const c of opened.splice(0)) await ('close' in c ? c.close() : c.end());
  });

  async function waitsForLock(admin: postgres.Sql, applicationName: string) {
    await eventually(
      async () =>
        (await admin`select 1 from pg_stat_activity where application_name = ${applicationName} and wait_event_type = 'Lock'`).length > 0,
      10_000,
      `${applicationName} to wait for a row lock`,
    );
  }

  it.each(Object.keys(others) as (keyof typeof others)[])(
    'lock them in range id order, so a result write and %s never deadlock',
    async (name) => {
      const { database, url } = test();
      const tag = name.replace(/\W+/g, '-');
      const admin = postgres(url, { max: 2, onnotice: () => {} });
      const writer = await createDatabase({ url, maxConnections: 1, applicationName: `vbs-test-writer-${tag}` });
      const other = await createDatabase({ url, maxConnections: 1, applicationName: `vbs-test-other-${tag}` });
      opened.push(admin, writer, other);
      const batchId = await insertBatch(database, { count: 2, rangeLines: 1 });
      const leased = await leaseRequests(database.db, { owner: 'w', model: 'sim-model', limit: 2, leaseMs: 60_000 });
      const [low, high] = [...leased].sort((a, b) => a.rangeId - b.rangeId) as [LeasedRequest, LeasedRequest];
      await database.db.execute(sql`update batches set status = 'cancelling' where id = ${batchId}`);

      // Another transaction holds the higher range, so each statement waits there holding what it locked before.
      const holder = await admin.reserve();
      await holder`begin`;
      await holder`select id from request_ranges where id = ${high.rangeId} for update`;
      // Results arrive in the order their requests finish, not by range.
      const written = completeRequests(writer.db, 'w', [result(high), result(low)]);
      await waitsForLock(admin, `vbs-test-writer-${tag}`);
      const done = others[name](other, [high.rangeId, low.rangeId]);
      await waitsForLock(admin, `vbs-test-other-${tag}`);
      await holder`commit`;
      holder.release();

      const [writes, rest] = await Promise.allSettled([written, done]);
      expect(writes).toMatchObject({ status: 'fulfilled', value: [{ written: 2 }] });
      expect(rest.status === 'rejected' ? String(rest.reason) : 'fulfilled').toBe('fulfilled');
    },
  );
});
