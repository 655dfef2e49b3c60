import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { BatchStatus } from '../states/batch-status.ts';
import type { FinishedRequestState } from '../states/request-state.ts';
import { RESULT_LINE } from './output-lines.ts';

/** One request line of a {@link ResultPage}: its result file line once it has a result, null before. */
export interface ResultPageRow {
  line: number;
  customId: string;
  /** The result's status; null while the line has no result yet. */
  status: FinishedRequestState | null;
  /** The exact line the output file (succeeded) or the error file (the rest) holds for it; null without a result. */
  text: string | null;
}

/** The requests of a batch with lines in [start, end), read in one snapshot with the batch's status. */
export interface ResultPage {
  owner: string;
  /** The batch's status in the same snapshot: when terminal, every line that will ever have a result has one here. */
  status: BatchStatus;
  /** In line order. */
  rows: ResultPageRow[];
  /** The first request line at or after `end`; null when there is none. */
  next: number | null;
}

/**
 * Reads the requests of a batch with lines in [start, end) and their results (the result file
 * line for those that have one), with the batch's owner and status and the first request line
 * after the page, in one statement: one snapshot, so a terminal status means every result is
 * in. Both sides are bounded by batch and line, as in output-lines.ts. Undefined when the batch
 * does not exist.
 */
export async function readResultPage(db: Executor, batchId: string, start: number, end: number): Promise<ResultPage | undefined> {
  const found = await rows<{
    owner: string;
    batchStatus: BatchStatus;
    next: number | null;
    line: number | null;
    customId: string | null;
    status: FinishedRequestState | null;
    text: string | null;
  }>(
    db,
    sql`with page as (
          select r.line, r.custom_id, x.status, case when x.line is null then null else ${RESULT_LINE} end as text
          from requests r
          left join results x on x.batch_id = ${batchId} and x.line = r.line and x.line >= ${start} and x.line < ${end}
          where r.batch_id = ${batchId} and r.line >= ${start} and r.line < ${end}
        )
        select b.owner, b.status as "batchStatus",
               (select min(q.line) from requests q where q.batch_id = ${batchId} and q.line >= ${end}) as next,
               p.line, p.custom_id as "customId", p.status, p.text
        from batches b left join page p on true
        where b.id = ${batchId}
        order by p.line`,
  );
  const head = found[0];
  if (!head) return undefined;
  return {
    owner: head.owner,
    status: head.batchStatus,
    next: head.next === null ? null : Number(head.next),
    rows: found
      .filter((row) => row.line !== null)
      .map((row) => ({ line: Number(row.line), customId: row.customId!, status: row.status, text: row.text })),
  };
}
