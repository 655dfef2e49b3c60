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
  // A JS array in a drizzle template becomes a list `($1, $2)` (and `()` when empty), not a text[]: pass it as JSON.
  const removedKeys = sql`array(select jsonb_array_elements_text(${JSON.stringify(removed)}::jsonb))`;
  const written = await rows<{ line: number }>(
    db,
    sql`insert into result_metadata as m (batch_id, line, metadata)
        select r.batch_id, r.line, ${JSON.stringify(kept)}::jsonb - ${removedKeys}
        from requests r where r.batch_id = ${batchId} and r.custom_id = ${customId}
        order by r.line limit 1
        on conflict (batch_id, line) do update set metadata = (m.metadata || excluded.metadata) - ${removedKeys}, updated_at = now()
        returning m.line`,
  );
  return written.length > 0;
}
