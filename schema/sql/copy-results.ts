import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sql } from 'drizzle-orm';
import { copyText } from '../copy-text.ts';
import type { CopyTransaction } from '../db.ts';
import type { RequestResult } from './complete-requests.ts';
import { idArray, mineLockedInIdOrder } from './own-leases.ts';

/** What a result write returns per batch: how many of its results were stored, how many of those failures. */
export interface WrittenCounts {
  batchId: string;
  written: number;
  writtenFailed: number;
}

/**
 * The `bumped` CTE of a result write: each range's counters raised by its row of `sums`
 * (range_id, ok, bad, pt, ct), finished and its lease cleared once every line is counted.
 */
export const BUMPED_RANGES = sql`bumped as (
        update request_ranges g
        set succeeded = g.succeeded + s.ok, failed = g.failed + s.bad,
            prompt_tokens = g.prompt_tokens + s.pt, completion_tokens = g.completion_tokens + s.ct,
            finished_at = case when g.succeeded + g.failed + s.ok + s.bad >= g.size then now() end,
            lease_owner = case when g.succeeded + g.failed + s.ok + s.bad >= g.size then null else g.lease_owner end,
            lease_expires_at = case when g.succeeded + g.failed + s.ok + s.bad >= g.size then null else g.lease_expires_at end
        from sums s
        where g.id = s.range_id
        returning g.batch_id, s.ok, s.bad
      )`;

/** The columns of `results` a copied write fills (finished_at takes its default, now()). */
const COLUMNS = [
  'batch_id',
  'line',
  'status',
  'status_code',
  'response',
  'engine_request_id',
  'error',
  'prompt_tokens',
  'completion_tokens',
  'attempts',
  'started_at',
] as const;

/** A field of COPY's text format: `\N` for null (and for a number that is not finite). */
const field = (value: string | number | null) =>
  value === null || (typeof value === 'number' && !Number.isFinite(value)) ? '\\N' : copyText(String(value));

/** The number, or null for null and anything not finite (stored as NULL, counted as nothing, as the parameter statement does). */
const finite = (value: number | null) => (value !== null && Number.isFinite(value) ? value : null);

/** A range `owner` holds, locked for the write. */
interface HeldRange {
  id: number;
  batchId: string;
  firstLine: number;
  lastLine: number;
  attempts: number;
}

/** One range's share of a write: what its counters are bumped by. */
interface RangeSums {
  ok: number;
  bad: number;
  promptTokens: number;
  completionTokens: number;
}

/**
 * A result write by `COPY` straight into `results`, in the caller's transaction: the ranges
 * named are locked in id order as every statement over them locks them ({@link mineLockedInIdOrder}),
 * the results of the ones `owner` still holds are kept (a line named outside its range is
 * dropped; a line twice, the later range's), copied, and their ranges' counters bumped, as the
 * one statement of the parameter path does. Rows travel in COPY's text format, which Postgres
 * parses at a fraction of the cost of array parameters.
 *
 * COPY cannot skip a line that already has a result, as the parameter path's ON CONFLICT does;
 * a held range's line has none unless something outside the lease protocol wrote it, and then
 * the COPY fails, the transaction rolls back with nothing written, and the caller writes the
 * page again as parameters.
 */
export async function copyResults(tx: CopyTransaction, owner: string, results: readonly RequestResult[]): Promise<WrittenCounts[]> {
  const ids = [...new Set(results.map((r) => r.rangeId))];
  const held = await tx.query<HeldRange>(
    sql`with ${mineLockedInIdOrder(owner, idArray(ids))}
        select id::float8 as id, batch_id as "batchId", first_line as "firstLine", last_line as "lastLine", attempts from mine`,
    { prepare: true },
  );
  if (held.length === 0) return [];
  const ranges = new Map(held.map((h) => [h.id, h]));
  // One result per line, from the range cut latest (the highest id) when a line comes twice.
  const kept = new Map<string, { result: RequestResult; range: HeldRange }>();
  for (const result of results) {
    const range = ranges.get(result.rangeId);
    if (!range || range.batchId !== result.batchId || result.line < range.firstLine || result.line > range.lastLine) continue;
    const key = `${result.batchId}\u0000${result.line}`;
    const other = kept.get(key);
    if (!other || other.range.id < range.id) kept.set(key, { result, range });
  }
  if (kept.size === 0) return [];

  const sums = new Map<number, RangeSums>();
  let text = '';
  for (const { result: r, range } of kept.values()) {
    const s = sums.get(range.id) ?? { ok: 0, bad: 0, promptTokens: 0, completionTokens: 0 };
    if (r.status === 'succeeded') s.ok++;
    else s.bad++;
    s.promptTokens += finite(r.promptTokens) ?? 0;
    s.completionTokens += finite(r.completionTokens) ?? 0;
    sums.set(range.id, s);
    const startedMs = finite(r.startedAtMs);
    const startedAt = startedMs === null ? null : new Date(startedMs).toISOString();
    text += `${field(r.batchId)}\t${r.line}\t${r.status}\t${field(r.statusCode)}\t${field(r.response)}\t${field(r.engineRequestId)}\t${field(
      r.error ? JSON.stringify(r.error) : null,
    )}\t${field(r.promptTokens)}\t${field(r.completionTokens)}\t${range.attempts}\t${field(startedAt)}\n`;
  }
  await pipeline(Readable.from([text]), await tx.copyFrom('results', COLUMNS));

  const bumps = [...sums.entries()];
  const column = (pick: (s: RangeSums) => number) => `{${bumps.map(([, s]) => pick(s)).join(',')}}`;
  return tx.query<WrittenCounts>(
    sql`with sums as (
          select * from unnest(${idArray(bumps.map(([id]) => id))}, ${column((s) => s.ok)}::int[], ${column((s) => s.bad)}::int[],
                               ${column((s) => s.promptTokens)}::bigint[], ${column((s) => s.completionTokens)}::bigint[])
            as s(range_id, ok, bad, pt, ct)
        ), ${BUMPED_RANGES}
        select batch_id as "batchId", sum(ok + bad)::int as "written", sum(bad)::int as "writtenFailed" from bumped group by batch_id`,
    { prepare: true },
  );
}
