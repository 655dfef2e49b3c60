import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import {
  completeRequests,
  createDatabase,
  leaseRequests,
  leaseRequestsSql,
  reapLeases,
  releaseRequests,
  rows,
  type Database,
  type LeasedRequest,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase, useTestDatabase } from '../helpers/database.ts';
import { eventually } from '../fleet/helpers.ts';
import { expireLeases, insertBatch, liveWorkers, statuses } from './batch-fixtures.ts';

const lines = (leased: LeasedRequest[]) => leased.map((r) => r.line);

describe.each(DRIVERS)('leasing ranges on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('claims ranges of one model, best priority first, splitting the last at the limit, and writes nothing per request', async () => {
    const db = database().db;
    const low = await insertBatch(database(), { count: 6, model: 'm1', rangeLines: 3 });
    const high = await insertBatch(database(), { count: 4, model: 'm1', priority: 5, rangeLines: 2 });
    await insertBatch(database(), { count: 4, model: 'm2', priority: 9 });
    const leased = await leaseRequests(db, { owner: 'w1', model: 'm1', limit: 5, leaseMs: 5000 });
    expect(leased.map((r) => [r.batchId, r.line])).toEqual([
      [high, 1],
      [high, 2],
      [high, 3],
      [high, 4],
      [low, 1],
    ]);
    expect(leased.every((r) => r.attempts === 1 && r.model === 'm1')).toBe(true);
    expect(new Set(leased.map((r) => r.rangeId)).size).toBe(3);
    expect(await statuses(database(), low)).toEqual([
      { status: 'leased', n: 1 },
      { status: 'queued', n: 5 },
    ]);
    const untouched = await rows<{ n: number }>(
      db,
      sql`select count(*)::int as n from requests where batch_id in (${low}, ${high}) and (status <> 'queued' or lease_owner is not null or attempts <> 0 or started_at is not null)`,
    );
    expect(untouched).toEqual([{ n: 0 }]);
  });

  it('never hands a range to two workers', async () => {
    const db = database().db;
    await insertBatch(database(), { count: 6, model: 'm-once', rangeLines: 3 });
    // One worker holds line 1, split off the first range; the next takes the rest and a third finds nothing.
    expect(lines(await leaseRequests(db, { owner: 'w1', model: 'm-once', limit: 1, leaseMs: 5000 }))).toEqual([1]);
    const a = await leaseRequests(db, { owner: 'w2', model: 'm-once', limit: 10, leaseMs: 5000 });
    const b = await leaseRequests(db, { owner: 'w3', model: 'm-once', limit: 10, leaseMs: 5000 });
    expect(lines(a)).toEqual([2, 3, 4, 5, 6]);
    expect(b).toEqual([]);
  });

  it('takes no more lines of a range than the limit; the rest of it stays queued for the next lease', async () => {
    const db = database().db;
    await insertBatch(database(), { count: 9, model: 'm-big', rangeLines: 4 });
    expect(lines(await leaseRequests(db, { owner: 'w1', model: 'm-big', limit: 2, leaseMs: 5000 }))).toEqual([1, 2]);
    expect(lines(await leaseRequests(db, { owner: 'w1', model: 'm-big', limit: 5, leaseMs: 5000 }))).toEqual([3, 4, 5, 6, 7]);
    expect(lines(await leaseRequests(db, { owner: 'w1', model: 'm-big', limit: 5, leaseMs: 5000 }))).toEqual([8, 9]);
  });

  it('spreads a 30-line batch over the 8 workers serving its model', async () => {
    const db = database().db;
    await liveWorkers(database(), 'm-spread', 8);
    await insertBatch(database(), { count: 30, model: 'm-spread' });
    const taken: number[][] = [];
    for (let w = 1; w <= 8; w++)
      taken.push(lines(await leaseRequests(db, { owner: `m-spread-gpu-${w}`, model: 'm-spread', limit: 256, leaseMs: 5000 })));
    expect(taken.map((t) => t.length)).toEqual([4, 4, 4, 4, 4, 4, 4, 2]);
    expect(taken.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    // A worker at its share takes no more of the batch, even with lines still queued.
    await db.execute(sql`update request_ranges set lease_owner = null where lease_owner = 'm-spread-gpu-8'`);
    expect(await leaseRequests(db, { owner: 'm-spread-gpu-1', model: 'm-spread', limit: 256, leaseMs: 5000 })).toEqual([]);
  });

  it('gives a worker its share of a batch out of a larger range: 20 lines on 50 workers go one a worker', async () => {
    const db = database().db;
    await liveWorkers(database(), 'm-crowd', 50);
    await insertBatch(database(), { count: 20, model: 'm-crowd', rangeLines: 10 });
    expect(lines(await leaseRequests(db, { owner: 'm-crowd-gpu-1', model: 'm-crowd', limit: 256, leaseMs: 5000 }))).toEqual([1]);
    expect(lines(await leaseRequests(db, { owner: 'm-crowd-gpu-1', model: 'm-crowd', limit: 256, leaseMs: 5000 }))).toEqual([]);
    expect(lines(await leaseRequests(db, { owner: 'm-crowd-gpu-2', model: 'm-crowd', limit: 256, leaseMs: 5000 }))).toEqual([2]);
  });

  it('leases nothing of a batch that is stopping or past its completion window', async () => {
    const db = database().db;
    const cancelling = await insertBatch(database(), { count: 2, model: 'm-stop' });
    await db.execute(sql`update batches set status = 'cancelling' where id = ${cancelling}`);
    await insertBatch(database(), { count: 2, model: 'm-stop', expiresInSeconds: -1 });
    expect(await leaseRequests(db, { owner: 'w1', model: 'm-stop', limit: 10, leaseMs: 5000 })).toEqual([]);
  });
});

describe('the lease on Postgres', () => {
  const test = useTestDatabase();
  const opened: Database[] = [];
  afterAll(async () => {
    for (const d of opened.splice(0)) await d.close();
  });

  it('never hands a line to two of many workers leasing at once', async () => {
    const { database, url } = test();
    await insertBatch(database, { count: 600, model: 'm-race', rangeLines: 7 });
    const workers = await Promise.all(Array.from({ length: 8 }, () => createDatabase({ url, maxConnections: 1 })));
    opened.push(...workers);
    const taken: LeasedRequest[] = [];
    for (let round = 0; round < 20; round++) {
      const got = await Promise.all(
        workers.map((w, i) => leaseRequests(w.db, { owner: `racer-${i}`, model: 'm-race', limit: 20, leaseMs: 60_000 })),
      );
      taken.push(...got.flat());
    }
    expect(taken).toHaveLength(600);
    expect(new Set(taken.map((r) => r.line)).size).toBe(600);
  });

  it("gives back an owner's range that its own heartbeat holds locked at that moment, instead of passing it over", async () => {
    const { database, url } = test();
    await insertBatch(database, { count: 6, model: 'm-release', rangeLines: 3 });
    const leased = await leaseRequests(database.db, { owner: 'w-release', model: 'm-release', limit: 6, leaseMs: 60_000 });
    const rangeIds = [...new Set(leased.map((r) => r.rangeId))];
    expect(rangeIds).toHaveLength(2);
    const other = await createDatabase({ url, maxConnections: 1 });
    opened.push(other);
    // Another statement (a heartbeat, a result write) holds one of the ranges while the owner releases.
    let unlock = () => {};
    const holding = other.db.transaction(async (tx) => {
      await tx.execute(sql`select id from request_ranges where id = ${rangeIds[0]!} for no key update`);
      await new Promise<void>((resolve) => (unlock = resolve));
    });
    await new Promise((r) => setTimeout(r, 100));
    const releasing = releaseRequests(database.db, { owner: 'w-release', refundAttempt: true, maxAttempts: 5 });
    await new Promise((r) => setTimeout(r, 200));
    unlock();
    await holding;
    const returned = await releasing;
    expect(returned.reduce((n, r) => n + r.n, 0)).toBe(6);
    const still = await rows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from request_ranges where lease_owner = 'w-release'`,
    );
    expect(still[0]?.n).toBe(0);
  });

  it('splits a range given back after a result write committed while it waited, without a piece for the lines just answered', async () => {
    const { database, url } = test();
    const batchId = await insertBatch(database, { count: 4, model: 'm-split', rangeLines: 4 });
    await leaseRequests(database.db, { owner: 'w-split', model: 'm-split', limit: 4, leaseMs: 60_000 });
    await expireLeases(database, 'w-split');
    await reapLeases(database.db, { maxAttempts: 5 });
    // The second lease of the range: giving it back unrefunded splits it into its unanswered lines.
    const leased = await leaseRequests(database.db, { owner: 'w-split', model: 'm-split', limit: 4, leaseMs: 60_000 });
    expect(leased.map((r) => r.attempts)).toEqual([2, 2, 2, 2]);
    const writer = await createDatabase({ url, maxConnections: 1 });
    const releaser = await createDatabase({ url, maxConnections: 1, applicationName: 'vbs-test-split-release' });
    opened.push(writer, releaser);
    let commit = () => {};
    let wrote = () => {};
    const written = new Promise<void>((resolve) => (wrote = resolve));
    const writing = writer.db.transaction(async (tx) => {
      await completeRequests(
        tx,
        'w-split',
        leased.slice(0, 2).map((r) => ({
          ...r,
          startedAtMs: null,
          status: 'succeeded' as const,
          statusCode: 200,
          response: '{}',
          engineRequestId: null,
          error: null,
          promptTokens: 1,
          completionTokens: 1,
        })),
      );
      const committing = new Promise<void>((resolve) => (commit = resolve));
      wrote();
      await committing;
    });
    await written;
    const releasing = releaseRequests(releaser.db, { owner: 'w-split', refundAttempt: false, maxAttempts: 5 });
    await eventually(
      async () =>
        (
          await rows(
            database.db,
            sql`select 1 from pg_stat_activity where application_name = 'vbs-test-split-release' and wait_event_type = 'Lock'`,
          )
        ).length > 0,
      10_000,
      'the release to wait for the write',
    );
    commit();
    await writing;
    await releasing;
    // Each open range is owed exactly its lines without a result: a piece for an answered line would never finish.
    const open = await rows<{ open: number; unanswered: number }>(
      database.db,
      sql`select g.size - g.succeeded - g.failed as open,
                 (select count(*)::int from requests r where r.batch_id = g.batch_id and r.line between g.first_line and g.last_line
                    and not exists (select 1 from results x where x.batch_id = r.batch_id and x.line = r.line)) as unanswered
          from request_ranges g where g.batch_id = ${batchId} and g.finished_at is null order by g.first_line`,
    );
    expect(open.every((g) => g.open === g.unanswered && g.open > 0)).toBe(true);
    expect(open.reduce((n, g) => n + g.open, 0)).toBe(2);
  });

  it('reads the queue index and a few ranges, not every range or request', async () => {
    const { database } = test();
    await database.db.execute(sql`
      insert into batches (id, owner, endpoint, model, completion_window, status, input_file_id, total, expires_at)
      select 'plan-' || i, 'o' || (i % 3), '/v1/chat/completions', 'm-plan', '24h', 'in_progress', 'f', 5000, now() + interval '1 day'
      from generate_series(1, 40) i`);
    await database.db.execute(sql`
      insert into requests (batch_id, line, custom_id, model, body)
      select 'plan-' || i, l, 'c' || l, 'm-plan', '{}' from generate_series(1, 40) i, generate_series(1, 5000) l`);
    await database.db.execute(sql`
      insert into request_ranges (batch_id, model, owner, first_line, last_line, size, finished_at)
      select 'plan-' || i, 'm-plan', 'o' || (i % 3), s, s + 19, 20, case when i <= 20 then now() end
      from generate_series(1, 40) i, generate_series(1, 5000, 20) s`);
    await database.db.execute(sql`analyze`);
    const plan = await rows<{ 'QUERY PLAN': string }>(
      database.db,
      sql`explain ${leaseRequestsSql({ owner: 'w', model: 'm-plan', limit: 256, leaseMs: 5000 })}`,
    );
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/Index Only Scan using request_ranges_queue_idx/);
    expect(text).not.toMatch(/Seq Scan on (request_ranges|requests)\b/);
  });
});
