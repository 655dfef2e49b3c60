import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** Extends the leases of the owner's running handler runs; returns the ids still held (a missing one was lost). */
export async function extendHandlerRuns(
  db: Executor,
  { owner, ids, leaseMs }: { owner: string; ids: number[]; leaseMs: number },
): Promise<number[]> {
  if (ids.length === 0) return [];
  const held = await rows<{ id: number }>(
    db,
    sql`update handler_runs set lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000}), updated_at = now()
        where id in (${sql.join(
          ids.map((id) => sql`${id}`),
          sql`, `,
        )}) and lease_owner = ${owner} and status = 'running'
        returning id::float8 as "id"`,
  );
  return held.map((r) => r.id);
}
