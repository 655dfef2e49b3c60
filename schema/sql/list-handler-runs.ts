import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { HANDLER_RUN_COLUMNS, toHandlerRunRow, type HandlerRunRow } from './handler-run-row.ts';

/** The handler runs of the given batches, by batch then handler name (one query for a page of batches). */
export async function listHandlerRuns(db: Executor, batchIds: string[]): Promise<HandlerRunRow[]> {
  if (batchIds.length === 0) return [];
  const raw = await rows<Parameters<typeof toHandlerRunRow>[0]>(
    db,
    sql`select ${HANDLER_RUN_COLUMNS} from handler_runs h
        where h.batch_id in (${sql.join(
          batchIds.map((id) => sql`${id}`),
          sql`, `,
        )})
        order by h.batch_id, h.handler`,
  );
  return raw.map(toHandlerRunRow);
}
