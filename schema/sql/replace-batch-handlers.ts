import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** Replaces a batch's handler options, only if they are still `before` (as read); false when they changed meanwhile. */
export async function replaceBatchHandlers(
  db: Executor,
  { id, before, after }: { id: string; before: string; after: Record<string, unknown> },
): Promise<boolean> {
  const updated = await rows<{ id: string }>(
    db,
    sql`update batches set handlers = ${JSON.stringify(after)}::jsonb where id = ${id} and handlers = ${before}::jsonb returning id`,
  );
  return updated.length > 0;
}
