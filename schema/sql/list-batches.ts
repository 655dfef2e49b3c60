import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { BATCH_COLUMNS, toBatchRow, type RawBatchRow } from './batch-row.ts';
import { RANGE_SUMS } from './range-sums.ts';

/** Options for {@link listBatches}. */
export interface ListBatchesOptions {
  owner: string;
  /** A batch id: list the batches created before it. */
  after?: string | undefined;
  limit: number;
  /** Only batches in one of these statuses. */
  statuses?: readonly string[] | undefined;
  /** Only batches with a request for this model (a mixed batch matches each of its models). */
  model?: string | undefined;
}

/** One page of an owner's batches, newest first, and whether more follow. */
export async function listBatches(db: Executor, { owner, after, limit, statuses, model }: ListBatchesOptions) {
  const cursor = after ? sql`and b.seq < (select seq from batches where id = ${after} and owner = ${owner})` : sql``;
  const byStatus = statuses?.length
    ? sql`and b.status in (${sql.join(
        statuses.map((s) => sql`${s}`),
        sql`, `,
      )})`
    : sql``;
  const byModel = model
    ? sql`and (b.model = ${model} or (b.model is null and exists (select 1 from requests r where r.batch_id = b.id and r.model = ${model})))`
    : sql``;
  const found = await rows<RawBatchRow>(
    db,
    sql`select ${BATCH_COLUMNS} from batches b ${RANGE_SUMS}
        where b.owner = ${owner} ${cursor} ${byStatus} ${byModel}
        order by b.seq desc
        limit ${limit + 1}`,
  );
  return { data: found.slice(0, limit).map(toBatchRow), hasMore: found.length > limit };
}
