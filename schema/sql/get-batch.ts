import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { BATCH_COLUMNS, toBatchRow, type BatchRow, type RawBatchRow } from './batch-row.ts';
import { RANGE_SUMS } from './range-sums.ts';

/** A batch of the given owner, or undefined (another owner's batch is not found either). */
export async function getBatch(db: Executor, id: string, owner: string): Promise<BatchRow | undefined> {
  const [raw] = await rows<RawBatchRow>(
    db,
    sql`select ${BATCH_COLUMNS} from batches b ${RANGE_SUMS} where b.id = ${id} and b.owner = ${owner}`,
  );
  return raw && toBatchRow(raw);
}
