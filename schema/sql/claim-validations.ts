import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** What a validator needs to know about a batch to validate it. */
export interface ValidationJob {
  id: string;
  owner: string;
  endpoint: string;
  inputFileId: string;
  priority: number;
  /** Validations started for this batch, this one included. */
  attempts: number;
}

/**
 * Takes over the validation of batches left in `validating` by a validator whose lease
 * expired (its gateway crashed or stalled); returns them, now leased to `owner`.
 */
export async function claimValidations(db: Executor, owner: string, leaseSeconds: number, limit = 10): Promise<ValidationJob[]> {
  return rows<ValidationJob>(
    db,
    sql`update batches b set validation_owner = ${owner}, validation_expires_at = now() + make_interval(secs => ${leaseSeconds}),
          validation_attempts = b.validation_attempts + 1
        from (select id from batches
              where status = 'validating' and (validation_expires_at is null or validation_expires_at < now())
              order by created_at limit ${limit} for update skip locked) due
        where b.id = due.id
        returning b.id, b.owner, b.endpoint, b.input_file_id as "inputFileId", b.priority, b.validation_attempts as "attempts"`,
  );
}
