import { sql } from 'drizzle-orm';
import type { Executor } from '../db.ts';

/** One validated input line, ready to queue. */
export interface NewRequest {
  line: number;
  customId: string;
  model: string;
  /** The request body as the input line gave it (JSON text). */
  body: string;
}

/**
 * Queues a page of requests of one batch with one statement. The page travels as one JSON
 * parameter expanded by `json_to_recordset`, which both drivers bind the same way and which
 * keeps the statement's parameter count fixed whatever the page size.
 */
export async function insertRequests(db: Executor, batchId: string, priority: number, page: readonly NewRequest[]): Promise<void> {
  if (page.length === 0) return;
  await db.execute(sql`
    insert into requests (batch_id, line, custom_id, model, body, priority)
    select ${batchId}, x.line, x."customId", x.model, x.body, ${priority}
    from json_to_recordset(${JSON.stringify(page)}::json) as x(line int, "customId" text, model text, body text)`);
}
