import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { completeRequests, copyResults, leaseRequests, rows, type LeasedRequest, type RequestResult } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { insertBatch } from './batch-fixtures.ts';

/** Text that a hand-made Postgres array literal gets wrong unless every element is quoted and escaped. */
const AWKWARD = [
  '',
  'NULL',
  'null',
  '{"a":"q\\"uote","b":"back\\\\slash"}',
  '{braces},commas',
  ' leading and trailing ',
  'é☃😀\u2028',
  'line\nbreak\ttab',
  '"',
  '\\',
];

const result = (r: LeasedRequest, text: string | null): RequestResult => ({
  id: r.id,
  rangeId: r.rangeId,
  batchId: r.batchId,
  line: r.line,
  startedAtMs: 1_700_000_000_123,
  status: 'succeeded',
  statusCode: 200,
  response: text,
  engineRequestId: text,
  error: null,
  promptTokens: null,
  completionTokens: 0,
});

/** Each driver, and on Postgres both ways a write's rows travel: as array parameters, and by COPY as the worker sends them. */
type Way = [(typeof DRIVERS)[number], 'COPY' | 'parameters'];
const WAYS = DRIVERS.flatMap((driver): Way[] =>
  driver === 'postgres'
    ? [
        [driver, 'COPY'],
        [driver, 'parameters'],
      ]
    : [[driver, 'parameters']],
);

describe.each(WAYS)('writing results on %s, rows as %s', (driver, way) => {
  const database = useDriverDatabase(driver);
  const write = (owner: string, results: RequestResult[]) =>
    completeRequests(database().db, owner, results, way === 'COPY' ? database().copyTransaction : undefined);

  it('stores every text exactly as given, nulls as nulls', async () => {
    const batchId = await insertBatch(database(), { count: AWKWARD.length + 1, model: 'm-text', rangeLines: 100 });
    const leased = await leaseRequests(database().db, { owner: 'w', model: 'm-text', limit: 100, leaseMs: 60_000 });
    const texts = [...AWKWARD, null];
    const [counters] = await write(
      'w',
      leased.map((r, i) => result(r, texts[i]!)),
    );
    expect(counters).toMatchObject({ batchId, completed: texts.length, written: texts.length, promptTokens: 0 });
    const stored = await rows<{
      response: string | null;
      engineRequestId: string | null;
      startedAtMs: number;
      promptTokens: number | null;
    }>(
      database().db,
      sql`select response, engine_request_id as "engineRequestId", extract(epoch from started_at)::float8 * 1000 as "startedAtMs", prompt_tokens as "promptTokens"
          from results where batch_id = ${batchId} order by line`,
    );
    expect(stored.map((s) => s.response)).toEqual(texts);
    expect(stored.map((s) => s.engineRequestId)).toEqual(texts);
    expect(stored.every((s) => Math.round(s.startedAtMs) === 1_700_000_000_123 && s.promptTokens === null)).toBe(true);
  });

  it('stores a failure with its error object', async () => {
    const batchId = await insertBatch(database(), { count: 1, model: 'm-error' });
    const [leased] = await leaseRequests(database().db, { owner: 'w', model: 'm-error', limit: 1, leaseMs: 60_000 });
    const error = { code: 'engine_unreachable', message: 'The engine said "no" \\ twice, {then} went away.' };
    const [counters] = await write('w', [
      { ...result(leased!, null), status: 'failed', statusCode: null, startedAtMs: null, error, completionTokens: null },
    ]);
    expect(counters).toMatchObject({ completed: 0, failed: 1, written: 1 });
    const [stored] = await rows<{ status: string; error: unknown; startedAt: unknown }>(
      database().db,
      sql`select status, error, started_at as "startedAt" from results where batch_id = ${batchId}`,
    );
    expect(stored).toEqual({ status: 'failed', error, startedAt: null });
  });

  it('writes nothing for a line outside the range named with it', async () => {
    const batchId = await insertBatch(database(), { count: 4, model: 'm-outside', rangeLines: 2 });
    const mine = await leaseRequests(database().db, { owner: 'w', model: 'm-outside', limit: 1, leaseMs: 60_000 });
    const forged = { ...result(mine[0]!, '{}'), line: 3 };
    expect(await write('w', [forged])).toEqual([]);
    expect(await rows(database().db, sql`select line from results where batch_id = ${batchId}`)).toEqual([]);
  });

  it('writes a page of results of several batches and reports each batch', async () => {
    const first = await insertBatch(database(), { count: 3, model: 'm-pages' });
    const second = await insertBatch(database(), { count: 2, model: 'm-pages' });
    const leased = await leaseRequests(database().db, { owner: 'w', model: 'm-pages', limit: 100, leaseMs: 60_000 });
    const counters = await write('w', leased.map((r) => result(r, '{}')).reverse());
    expect(counters.map((c) => [c.batchId, c.written, c.completed]).sort()).toEqual(
      [
        [first, 3, 3],
        [second, 2, 2],
      ].sort(),
    );
  });

  it('stores each of several writes in a row once, and a write after a refused one', async () => {
    const batchId = await insertBatch(database(), { count: 6, model: 'm-rows' });
    const leased = await leaseRequests(database().db, { owner: 'w', model: 'm-rows', limit: 100, leaseMs: 60_000 });
    const firstPage = leased.slice(0, 2).map((r) => result(r, `first ${r.line}`));
    const [first] = await write('w', firstPage);
    expect(first).toMatchObject({ written: 2, completed: 2 });
    await expect(write('w', [result(leased[2]!, 'refused \u0000')])).rejects.toThrow();
    const secondPage = leased.slice(2, 4).map((r) => result(r, `second ${r.line}`));
    const [second] = await write('w', secondPage);
    expect(second).toMatchObject({ written: 2, completed: 4 });
    // Written again: a line keeps its first result, and the repeat counts nothing.
    expect(
      await write(
        'w',
        leased.slice(0, 2).map((r) => result(r, 'again')),
      ),
    ).toEqual([]);
    const stored = await rows<{ line: number; response: string }>(
      database().db,
      sql`select line, response from results where batch_id = ${batchId} order by line`,
    );
    expect(stored).toEqual(
      leased.slice(0, 4).map((r) => ({ line: r.line, response: `${r.line <= leased[1]!.line ? 'first' : 'second'} ${r.line}` })),
    );
  });
});

describe('writing results by COPY itself (Postgres)', () => {
  const database = useDriverDatabase('postgres');
  const copied = (owner: string, results: RequestResult[]) => database().copyTransaction!((tx) => copyResults(tx, owner, results));
  const stored = (batchId: string) =>
    rows<{ line: number; response: string; attempts: number }>(
      database().db,
      sql`select line, response, attempts from results where batch_id = ${batchId} order by line`,
    );

  it('keeps only what the lease guard lets through: the lines of ranges the owner holds, each inside its range', async () => {
    const batchId = await insertBatch(database(), { count: 4, model: 'm-copy', rangeLines: 2 });
    const leased = await leaseRequests(database().db, { owner: 'w', model: 'm-copy', limit: 100, leaseMs: 60_000 });
    expect(new Set(leased.map((r) => r.rangeId)).size).toBe(2);
    const [a, b, c] = leased;
    const written = await copied('w', [
      result(a!, 'a'),
      { ...result(a!, 'forged'), line: c!.line },
      result(b!, 'b'),
      result(c!, 'c'),
      { ...result(c!, 'not mine'), rangeId: c!.rangeId + 1000 },
    ]);
    expect(written).toEqual([{ batchId, written: 3, writtenFailed: 0 }]);
    expect(await stored(batchId)).toEqual([
      { line: a!.line, response: 'a', attempts: 1 },
      { line: b!.line, response: 'b', attempts: 1 },
      { line: c!.line, response: 'c', attempts: 1 },
    ]);
    // Another owner holds nothing here: its page writes nothing.
    expect(await copied('other', [result(leased[3]!, 'd')])).toEqual([]);
  });

  it('fails with nothing written when a line of the page already has a result, so the caller writes it as parameters', async () => {
    const batchId = await insertBatch(database(), { count: 3, model: 'm-copy-taken' });
    const leased = await leaseRequests(database().db, { owner: 'w', model: 'm-copy-taken', limit: 100, leaseMs: 60_000 });
    await database().db.execute(sql`insert into results (batch_id, line, status) values (${batchId}, ${leased[1]!.line}, 'cancelled')`);
    await expect(
      copied(
        'w',
        leased.map((r) => result(r, 'copied')),
      ),
    ).rejects.toThrow();
    expect((await stored(batchId)).map((r) => r.line)).toEqual([leased[1]!.line]);
    const [counters] = await completeRequests(
      database().db,
      'w',
      leased.map((r) => result(r, 'as parameters')),
      database().copyTransaction,
    );
    expect(counters).toMatchObject({ batchId, written: 2 });
    expect((await stored(batchId)).map((r) => r.response)).toEqual(['as parameters', null, 'as parameters']);
  });
});
