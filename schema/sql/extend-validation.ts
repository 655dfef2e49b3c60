import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** Extends a validation lease; false when the batch is no longer validating under this owner. */
export async function extendValidation(db: Executor, batchId: string, owner: string, leaseSeconds: number): Promise<boolean> {
  const extended = await rows<{ id: string }>(
    db,
    sql`update batches set validation_expires_at = now() + make_interval(secs => ${leaseSeconds})
        where id = ${batchId} and status = 'validating' and validation_owner = ${owner} returning id`,
  );
  return extended.length > 0;
}
