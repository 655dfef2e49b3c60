import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { BATCH_COLUMNS, toBatchRow, type BatchRow, type RawBatchRow } from './batch-row.ts';
import { RANGE_SUMS } from './range-sums.ts';

/** The batch a handler run belongs to, whoever owns it (the runner acts for every owner). */
export async function getHandlerRunBatch(db: Executor, batchId: string): Promise<BatchRow | undefined> {
  const [raw] = await rows<RawBatchRow>(db, sql`select ${BATCH_COLUMNS} from batches b ${RANGE_SUMS} where b.id = ${batchId}`);
  return raw && toBatchRow(raw);
}
