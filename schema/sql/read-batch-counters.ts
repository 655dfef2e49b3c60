import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** The status and counters of a batch, as progress subscriptions start from. */
export interface BatchCountersRow {
  id: string;
  owner: string;
  status: string;
  total: number;
  completed: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
}

/** Reads the counters of the given batches in one statement (the ones that exist). */
export function readBatchCounters(db: Executor, ids: readonly string[]): Promise<BatchCountersRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return rows<BatchCountersRow>(
    db,
    sql`select id, owner, status, total, completed, failed,
          prompt_tokens::float8 as "promptTokens", completion_tokens::float8 as "completionTokens"
        from batches where id in (${sql.join(
          ids.map((id) => sql`${id}`),
          sql`, `,
        )})`,
  );
}
