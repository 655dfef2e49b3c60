import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createResultWriter } from '../../fleet/worker/result-writer.ts';
import { leaseRequests, rows, type LeasedRequest, type RequestResult } from '../../schema/index.ts';
import { createDatabase } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase, useTestDatabase } from '../helpers/database.ts';
import { eventually, insertChatBatch } from './helpers.ts';
import { succeededResult } from '../queue/batch-fixtures.ts';

/** A succeeded result of a leased request, as the worker hands it to the writer. */
const result = (r: LeasedRequest, engineRequestId: string): RequestResult =>
  succeededResult(r, { response: '{"object":"chat.completion"}', engineRequestId, promptTokens: 1, completionTokens: 2 });

describe.each(DRIVERS)('the result writer on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('stores a result Postgres refuses as a failure, without holding back the others', async () => {
    const batchId = await insertChatBatch(database(), { count: 6, model: 'writer-model' });
    const leased = await leaseRequests(database().db, { owner: 'writer', model: 'writer-model', limit: 6, leaseMs: 60_000 });
    const writer = createResultWriter({
      database: database(),
      owner: 'writer',
      logger: createLogger({ level: 'silent' }),
      flushMs: 20,
      maxBatch: 10,
      onWritten() {},
    });
    // Postgres refuses \\u0000 in text, so the page holding this result fails as a whole.
    for (const [i, r] of leased.entries()) writer.add(result(r, i === 3 ? 'bad\u0000id' : `ok-${i}`));
    try {
      await eventually(
        async () => {
          const [left] = await rows<{ n: number }>(
            database().db,
            sql`select count(*)::int as n from request_states where batch_id = ${batchId} and status = 'leased'`,
          );
          return left?.n === 0;
        },
        20_000,
        'every result stored',
      );
    } finally {
      writer.close();
    }
    const stored = await rows<{ line: number; status: string; code: string | null }>(
      database().db,
      sql`select line, status, error->>'code' as code from request_states where batch_id = ${batchId} order by line`,
    );
    expect(stored.map((r) => [r.status, r.code])).toEqual([
      ['succeeded', null],
      ['succeeded', null],
      ['succeeded', null],
      ['failed', 'result_unwritable'],
      ['succeeded', null],
      ['succeeded', null],
    ]);
  });
});

describe('the result writer when Postgres times out (Postgres)', () => {
  const test = useTestDatabase();

  it('keeps retrying results whose writes time out while the database answers, and never stores them as failed', async () => {
    const { database, url, name } = test();
    // An operator's lock_timeout: a write waiting on a locked range row fails, `select 1` still answers.
    await database.db.execute(sql.raw(`alter database "${name}" set lock_timeout = '100ms'`));
    const timed = await createDatabase({ url, maxConnections: 2 });
    const batchId = await insertChatBatch(database, { count: 4, model: 'timeout-model' });
    const leased = await leaseRequests(database.db, { owner: 'timed-writer', model: 'timeout-model', limit: 4, leaseMs: 60_000 });
    const writer = createResultWriter({
      database: timed,
      owner: 'timed-writer',
      logger: createLogger({ level: 'silent' }),
      flushMs: 20,
      maxBatch: 10,
      onWritten() {},
    });
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked = () => {};
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = database.db.transaction(async (tx) => {
      await tx.execute(sql`select id from request_ranges where batch_id = ${batchId} for update`);
      locked();
      await released;
    });
    await isLocked;
    try {
      for (const [i, r] of leased.entries()) writer.add(result(r, `ok-${i}`));
      // Long enough for many failed writes of the page and of single results.
      await new Promise((r) => setTimeout(r, 1500));
      release();
      await holder;
      await eventually(async () => writer.pending === 0, 20_000, 'every result written');
    } finally {
      release();
      writer.close();
      await timed.close();
    }
    const stored = await rows<{ status: string; code: string | null }>(
      database.db,
      sql`select status, error->>'code' as code from request_states where batch_id = ${batchId} order by line`,
    );
    expect(stored).toEqual(Array.from({ length: 4 }, () => ({ status: 'succeeded', code: null })));
  });
});
