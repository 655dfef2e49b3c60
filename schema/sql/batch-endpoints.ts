import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** The endpoint (`/v1/chat/completions`, ...) of each of the given batches that exists. */
export function batchEndpoints(db: Executor, ids: readonly string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return rows<{ id: string; endpoint: string }>(
    db,
    sql`select id, endpoint from batches where id in (${sql.join(
      ids.map((id) => sql`${id}`),
      sql`, `,
    )})`,
  );
}
