import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/**
 * Takes over the validation of batches left in `validating` by a validator whose lease
 * expired (its gateway crashed or stalled); returns their ids, now leased to `owner`.
 */
export async function claimValidations(db: Executor, owner: string, leaseSeconds: number, limit = 10): Promise<string[]> {
  const claimed = await rows<{ id: string }>(
    db,
    sql`update batches b set validation_owner = ${owner}, validation_expires_at = now() + make_interval(secs => ${leaseSeconds})
        from (select id from batches
              where status = 'validating' and (validation_expires_at is null or validation_expires_at < now())
              order by created_at limit ${limit} for update skip locked) due
        where b.id = due.id
        returning b.id`,
  );
  return claimed.map((row) => row.id);
}
