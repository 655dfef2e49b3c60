import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { completeRequests, leaseRequests, rows, type LeasedRequest, type RequestResult } from '../../schema/index.ts';
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

describe.each(DRIVERS)('writing results on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('stores every text exactly as given, nulls as nulls', async () => {
    const batchId = await insertBatch(database(), { count: AWKWARD.length + 1, model: 'm-text', rangeLines: 100 });
    const leased = await leaseRequests(database().db, { owner: 'w', model: 'm-text', limit: 100, leaseMs: 60_000 });
    const texts = [...AWKWARD, null];
    const [counters] = await completeRequests(
      database().db,
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
    const [counters] = await completeRequests(database().db, 'w', [
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
    expect(await completeRequests(database().db, 'w', [forged])).toEqual([]);
    expect(await rows(database().db, sql`select line from results where batch_id = ${batchId}`)).toEqual([]);
  });

  it('writes a page of results of several batches and reports each batch', async () => {
    const first = await insertBatch(database(), { count: 3, model: 'm-pages' });
    const second = await insertBatch(database(), { count: 2, model: 'm-pages' });
    const leased = await leaseRequests(database().db, { owner: 'w', model: 'm-pages', limit: 100, leaseMs: 60_000 });
    const counters = await completeRequests(database().db, 'w', leased.map((r) => result(r, '{}')).reverse());
    expect(counters.map((c) => [c.batchId, c.written, c.completed]).sort()).toEqual(
      [
        [first, 3, 3],
        [second, 2, 2],
      ].sort(),
    );
  });
});
