import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** Saves a running handler's progress (JSON), only while the run is still the owner's; false when the lease was lost. */
export async function saveHandlerCheckpoint(
  db: Executor,
  { id, owner, checkpoint }: { id: number; owner: string; checkpoint: unknown },
): Promise<boolean> {
  const saved = await rows<{ id: number }>(
    db,
    sql`update handler_runs set checkpoint = ${JSON.stringify(checkpoint ?? null)}::jsonb, updated_at = now()
        where id = ${id} and lease_owner = ${owner} and status = 'running'
        returning id::float8 as "id"`,
  );
  return saved.length > 0;
}
