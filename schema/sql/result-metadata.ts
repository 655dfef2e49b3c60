import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/**
 * Merges metadata into a result's (a handler's `context.setResultMetadata`): keys set to null
 * are removed, the others replace or join what is there. Returns false when the batch has no
 * request with that custom_id.
 */
export async function setResultMetadata(
  db: Executor,
  { batchId, customId, metadata }: { batchId: string; customId: string; metadata: Record<string, unknown> },
): Promise<boolean> {
  const removed = Object.keys(metadata).filter((key) => metadata[key] === null);
  const kept = Object.fromEntries(Object.entries(metadata).filter(([, value]) => value !== null));
  const written = await rows<{ line: number }>(
    db,
    sql`insert into result_metadata as m (batch_id, line, metadata)
        select r.batch_id, r.line, ${JSON.stringify(kept)}::jsonb - ${removed}::text[]
        from requests r where r.batch_id = ${batchId} and r.custom_id = ${customId}
        order by r.line limit 1
        on conflict (batch_id, line) do update set metadata = (m.metadata || excluded.metadata) - ${removed}::text[], updated_at = now()
        returning m.line`,
  );
  return written.length > 0;
}
