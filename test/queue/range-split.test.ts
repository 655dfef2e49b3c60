import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import {
  completeRequests,
  createDatabase,
  leaseRequests,
  reapLeases,
  rows,
  type Database,
  type LeasedRequest,
  type RequestResult,
} from '../../schema/index.ts';
import { readBatchCounters } from '../../schema/sql/read-batch-counters.ts';
import { DRIVERS, useDriverDatabase, useTestDatabase } from '../helpers/database.ts';
import { expireLeases, insertBatch, liveWorkers, statuses } from './batch-fixtures.ts';

const lines = (leased: LeasedRequest[]) => leased.map((r) => r.line);
const upTo = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

const result = (r: LeasedRequest, status: 'succeeded' | 'failed' = 'succeeded'): RequestResult => ({
  id: r.id,
  rangeId: r.rangeId,
  batchId: r.batchId,
  line: r.line,
  startedAtMs: null,
  status,
  statusCode: status === 'succeeded' ? 200 : 400,
  response: '{}',
  engineRequestId: null,
  error: null,
  promptTokens: 2,
  completionTokens: 3,
});

/**
 * What must hold of a batch's ranges whatever was split: every line without a result lies in
 * exactly one open range, each open range's size is its counted results plus its lines
 * without a result, and the sizes add up to the batch's lines.
 */
async function expectRangesExact(database: Database, batchId: string, total: number) {
  const [check] = await rows<{ uncovered: number; doubled: number; wrongSize: number; sizes: number }>(
    database.db,
    sql`select
          (select count(*)::int from requests r
           where r.batch_id = ${batchId} and not exists (select 1 from results x where x.batch_id = r.batch_id and x.line = r.line)
             and (select count(*) from request_ranges g where g.batch_id = r.batch_id and g.model = r.model and g.finished_at is null
                  and r.line between g.first_line and g.last_line) = 0) as uncovered,
          (select count(*)::int from requests r
           where r.batch_id = ${batchId}
             and (select count(*) from request_ranges g where g.batch_id = r.batch_id and g.model = r.model and g.finished_at is null
                  and r.line between g.first_line and g.last_line
                  and not exists (select 1 from results x where x.batch_id = r.batch_id and x.line = r.line)) > 1) as doubled,
          (select count(*)::int from request_ranges g
           where g.batch_id = ${batchId} and g.finished_at is null
             and g.size - g.succeeded - g.failed <> (select count(*) from requests r where r.batch_id = g.batch_id and r.model = g.model
                  and r.line between g.first_line and g.last_line
                  and not exists (select 1 from results x where x.batch_id = r.batch_id and x.line = r.line))) as "wrongSize",
          (select sum(size)::int from request_ranges where batch_id = ${batchId}) as sizes`,
  );
  expect(check).toEqual({ uncovered: 0, doubled: 0, wrongSize: 0, sizes: total });
}

describe.each(DRIVERS)('splitting ranges at lease time on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('gives a worker asking for 10 lines of a 1,000-line range those 10, and the other 990 to the next worker', async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 1000, model: 'm-ten', rangeLines: 1000 });
    const first = await leaseRequests(db, { owner: 'w1', model: 'm-ten', limit: 10, leaseMs: 60_000 });
    expect(lines(first)).toEqual(upTo(1, 10));
    expect(await statuses(database(), batchId)).toEqual([
      { status: 'leased', n: 10 },
      { status: 'queued', n: 990 },
    ]);
    const ranges = await rows(
      db,
      sql`select first_line as "first", last_line as "last", size, lease_owner as "owner", attempts from request_ranges where batch_id = ${batchId} order by first_line`,
    );
    expect(ranges).toEqual([
      { first: 1, last: 10, size: 10, owner: 'w1', attempts: 1 },
      { first: 11, last: 1000, size: 990, owner: null, attempts: 0 },
    ]);
    const second = await leaseRequests(db, { owner: 'w2', model: 'm-ten', limit: 2000, leaseMs: 60_000 });
    expect(lines(second)).toEqual(upTo(11, 1000));
    expect(new Set(second.map((r) => r.rangeId)).size).toBe(1);
    expect(second[0]!.rangeId).not.toBe(first[0]!.rangeId);
    await expectRangesExact(database(), batchId, 1000);
  });

  it('gives 40 workers on one batch of 4 ranges disjoint lines, every line exactly once', async () => {
    const db = database().db;
    await liveWorkers(database(), 'm-forty', 40);
    const batchId = await insertBatch(database(), { count: 1000, model: 'm-forty', rangeLines: 250 });
    const taken: LeasedRequest[][] = [];
    for (let w = 1; w <= 40; w++)
      taken.push(await leaseRequests(db, { owner: `m-forty-gpu-${w}`, model: 'm-forty', limit: 100, leaseMs: 60_000 }));
    // Each takes its share (1,000 lines over 40 workers) out of whichever range is first.
    expect(taken.map((t) => t.length)).toEqual(Array.from({ length: 40 }, () => 25));
    expect(
      taken
        .flat()
        .map((r) => r.line)
        .sort((a, b) => a - b),
    ).toEqual(upTo(1, 1000));
    expect(await statuses(database(), batchId)).toEqual([{ status: 'leased', n: 1000 }]);
    await expectRangesExact(database(), batchId, 1000);
    // Answered through their split ranges, the lines count once each and the batch is done.
    for (let w = 0; w < 40; w++)
      await completeRequests(
        db,
        `m-forty-gpu-${w + 1}`,
        taken[w]!.map((r) => result(r)),
      );
    const [counters] = await readBatchCounters(db, [batchId]);
    expect(counters).toMatchObject({ completed: 1000, failed: 0, promptTokens: 2000, completionTokens: 3000 });
    expect(await rows(db, sql`select count(*)::int as n from request_ranges where batch_id = ${batchId} and finished_at is null`)).toEqual([
      { n: 0 },
    ]);
  });

  it('keeps the counters exact when a range answered in part before is split, reaped and split again', async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 100, model: 'm-again', rangeLines: 100 });
    // A first worker answers lines 1–20 and 50–59, then is lost: its range goes back to the queue with 70 lines to do.
    const lost = await leaseRequests(db, { owner: 'lost', model: 'm-again', limit: 100, leaseMs: 60_000 });
    expect(lost).toHaveLength(100);
    await completeRequests(
      db,
      'lost',
      lost.filter((r) => r.line <= 20 || (r.line >= 50 && r.line <= 59)).map((r) => result(r)),
    );
    await expireLeases(database(), 'lost');
    await reapLeases(db, { maxAttempts: 3 });

    // The next worker takes the first 15 lines without a result; the range keeps its 30 results and shrinks to them.
    const a = await leaseRequests(db, { owner: 'a', model: 'm-again', limit: 15, leaseMs: 60_000 });
    expect(lines(a)).toEqual(upTo(21, 35));
    expect(a.every((r) => r.attempts === 2)).toBe(true);
    // The rest (36–100 less the 10 answered) is a new range that skips the answered lines.
    const b = await leaseRequests(db, { owner: 'b', model: 'm-again', limit: 30, leaseMs: 60_000 });
    expect(lines(b)).toEqual([...upTo(36, 49), ...upTo(60, 75)]);
    expect(b.every((r) => r.attempts === 2)).toBe(true);
    const ranges = await rows(
      db,
      sql`select first_line as "first", last_line as "last", size, succeeded, attempts, lease_owner as "owner"
          from request_ranges where batch_id = ${batchId} order by first_line`,
    );
    expect(ranges).toEqual([
      { first: 1, last: 35, size: 45, succeeded: 30, attempts: 2, owner: 'a' },
      { first: 36, last: 75, size: 30, succeeded: 0, attempts: 2, owner: 'b' },
      { first: 76, last: 100, size: 25, succeeded: 0, attempts: 1, owner: null },
    ]);
    await expectRangesExact(database(), batchId, 100);

    // Worker a answers 21–25 and fails 26, then is lost too: its range, leased twice, is cut into one range per line left.
    await completeRequests(db, 'a', [...a.slice(0, 5).map((r) => result(r)), result(a[5]!, 'failed')]);
    await expireLeases(database(), 'a');
    await reapLeases(db, { maxAttempts: 3 });
    await expectRangesExact(database(), batchId, 100);
    expect(await readBatchCounters(db, [batchId])).toMatchObject([{ completed: 35, failed: 1, promptTokens: 72, completionTokens: 108 }]);

    // Everything left is leased and answered by others: each line once, the batch done with exact counters.
    await completeRequests(
      db,
      'b',
      b.map((r) => result(r)),
    );
    for (let round = 0; round < 20; round++) {
      const leased = await leaseRequests(db, { owner: `c${round}`, model: 'm-again', limit: 7, leaseMs: 60_000 });
      if (leased.length === 0) break;
      await completeRequests(
        db,
        `c${round}`,
        leased.map((r) => result(r)),
      );
    }
    expect(await readBatchCounters(db, [batchId])).toMatchObject([{ completed: 99, failed: 1, promptTokens: 200, completionTokens: 300 }]);
    expect(await rows(db, sql`select count(*)::int as n from results where batch_id = ${batchId}`)).toEqual([{ n: 100 }]);
    expect(await rows(db, sql`select count(*)::int as n from request_ranges where batch_id = ${batchId} and finished_at is null`)).toEqual([
      { n: 0 },
    ]);
  });

  it('still spreads a 30-line batch in one range over the 8 workers serving its model', async () => {
    const db = database().db;
    await liveWorkers(database(), 'm-spread30', 8);
    const batchId = await insertBatch(database(), { count: 30, model: 'm-spread30', rangeLines: 30 });
    const taken: number[][] = [];
    for (let w = 1; w <= 8; w++)
      taken.push(lines(await leaseRequests(db, { owner: `m-spread30-gpu-${w}`, model: 'm-spread30', limit: 256, leaseMs: 5000 })));
    expect(taken.map((t) => t.length)).toEqual([4, 4, 4, 4, 4, 4, 4, 2]);
    expect(taken.flat().sort((x, y) => x - y)).toEqual(upTo(1, 30));
    expect(await leaseRequests(db, { owner: 'm-spread30-gpu-1', model: 'm-spread30', limit: 256, leaseMs: 5000 })).toEqual([]);
    await expectRangesExact(database(), batchId, 30);
  });
});

describe('splitting ranges under concurrent leases on Postgres', () => {
  const test = useTestDatabase();
  const opened: Database[] = [];
  afterAll(async () => {
    for (const d of opened.splice(0)) await d.close();
  });

  it('hands 40 workers leasing at once over 8 connections every line of a batch of 4 ranges exactly once', async () => {
    const { database, url } = test();
    await liveWorkers(database, 'm-crowd40', 40);
    const batchId = await insertBatch(database, { count: 2000, model: 'm-crowd40', rangeLines: 500 });
    const connections = await Promise.all(Array.from({ length: 8 }, () => createDatabase({ url, maxConnections: 1 })));
    opened.push(...connections);
    const taken: LeasedRequest[] = [];
    // Each connection leases for 5 of the workers in turn, answering what it got, until the batch is empty.
    for (let round = 0; round < 60 && taken.length < 2000; round++) {
      await Promise.all(
        connections.map(async (c, i) => {
          for (let k = 0; k < 5; k++) {
            const owner = `m-crowd40-gpu-${i * 5 + k + 1}`;
            const leased = await leaseRequests(c.db, { owner, model: 'm-crowd40', limit: 20, leaseMs: 60_000 });
            taken.push(...leased);
            await completeRequests(
              c.db,
              owner,
              leased.map((r) => result(r)),
            );
          }
        }),
      );
    }
    expect(taken).toHaveLength(2000);
    expect(new Set(taken.map((r) => r.line)).size).toBe(2000);
    await expectRangesExact(database, batchId, 2000);
    expect(await readBatchCounters(database.db, [batchId])).toMatchObject([{ completed: 2000, failed: 0 }]);
  });
});
