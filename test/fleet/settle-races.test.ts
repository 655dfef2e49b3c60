import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { leaseRequests, rows, settleBatch, stopRequests, type Database } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { insertBatch } from '../queue/batch-fixtures.ts';
import { eventually, resultFiles } from './helpers.ts';

const batchStatus = async (database: Database, batchId: string) =>
  (await rows<{ status: string }>(database.db, sql`select status from batches where id = ${batchId}`))[0]?.status;

/** True while some statement of this database waits for a row lock. */
const someoneWaits = async (database: Database) =>
  ((
    await rows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
    )
  )[0]?.n ?? 0) > 0;

describe('settling a stopping batch while workers lease (Postgres)', () => {
  const test = useTestDatabase();

  it('does not finalize an expired batch while a request leased during the settle is still in flight', async () => {
    const { database } = test();
    const batchId = await insertBatch(database, { count: 3, model: 'm-expiry-race', expiresInSeconds: -1 });
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked = () => {};
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    // Another transaction holds the range of line 1, so the settle's "expire the unleased ranges"
    // waits there, after it has read that the batch is past due: a worker leases the other lines meanwhile.
    const blocker = database.db.transaction(async (tx) => {
      await tx.execute(sql`select id from request_ranges where batch_id = ${batchId} and first_line = 1 for update`);
      locked();
      await held;
    });
    await isLocked;
    const settling = settleBatch(database.db, batchId);
    await eventually(() => someoneWaits(database), 10_000, 'the settle to wait for the row lock');
    // A lease whose snapshot predates the end of the window (the lease takes only open batches).
    const setExpiry = (interval: string) =>
      database.db.execute(sql`update batches set expires_at = now() + ${interval}::interval where id = ${batchId}`);
    await setExpiry('1 hour');
    const leased = await leaseRequests(database.db, { owner: 'racer', model: 'm-expiry-race', limit: 3, leaseMs: 60_000 });
    await setExpiry('-1 second');
    expect(leased.length).toBeGreaterThan(0);
    release();
    await blocker;
    await settling;

    // The leased requests are still running: the batch must wait for them.
    expect(await batchStatus(database, batchId)).toBe('in_progress');
    // The worker's heartbeat then stops them, and the batch expires with every line in its error file.
    const touched = await stopRequests(
      database.db,
      'racer',
      leased.map((r) => r.rangeId),
    );
    for (const id of touched) await settleBatch(database.db, id);
    expect(await batchStatus(database, batchId)).toBe('expired');
    const { output, errors } = await resultFiles(database, batchId);
    expect(output).toEqual([]);
    expect(errors.map((l) => [l.custom_id, l.error?.code])).toEqual([
      ['req-1', 'batch_expired'],
      ['req-2', 'batch_expired'],
      ['req-3', 'batch_expired'],
    ]);
    const [file] = await rows<{ lines: number }>(
      database.db,
      sql`select f.lines from files f join batches b on b.error_file_id = f.id where b.id = ${batchId}`,
    );
    expect(file?.lines).toBe(3);
  });
});
