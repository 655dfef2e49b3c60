import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { RESULT_LINE, RESULT_STATUSES, type ResultKind } from './output-lines.ts';

/**
 * One result as handlers read it: the result file's line (the same bytes as the file), the
 * request body it answers (JSON text; `''` once purged) and what handlers attached to it
 * (JSON text, or null). Kept apart from the line so that the files' bytes never change.
 */
export interface HandlerResultRow {
  line: number;
  text: string;
  request: string;
  metadata: string | null;
}

const COLUMNS = sql`x.line, ${RESULT_LINE} as text, r.body as request, m.metadata::text as metadata`;
const FROM = sql`results x join requests r on r.batch_id = x.batch_id and r.line = x.line
  left join result_metadata m on m.batch_id = x.batch_id and m.line = x.line`;

/**
 * A page of one result file's rows for handlers, in line order after `afterLine`; bounded on
 * both sides by batch and line as the file's own pages are (see output-lines.ts).
 */
export function handlerResultsPage(db: Executor, batchId: string, kind: ResultKind, afterLine: number, limit: number) {
  return rows<HandlerResultRow>(
    db,
    sql`select ${COLUMNS} from ${FROM}
        where x.batch_id = ${batchId} and r.batch_id = ${batchId} and x.line > ${afterLine} and r.line > ${afterLine}
          and x.status in (${sql.join(
            RESULT_STATUSES[kind].map((s) => sql`${s}`),
            sql`, `,
          )})
        order by x.line limit ${limit}`,
  );
}

/** The result of one line for handlers (an annotation run's `context.result`), or undefined while it has none. */
export async function handlerResultOfLine(db: Executor, batchId: string, line: number): Promise<HandlerResultRow | undefined> {
  const [row] = await rows<HandlerResultRow>(db, sql`select ${COLUMNS} from ${FROM} where x.batch_id = ${batchId} and x.line = ${line}`);
  return row;
}
