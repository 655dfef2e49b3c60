import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** Which results of a batch go into a dataset. */
export interface DatasetFilter {
  /** Only results starred gold. */
  goldOnly: boolean;
  /** Only results rated at least this (1–5); unrated results are left out. */
  minRating?: number | null | undefined;
  /** Only results whose annotation has at least one of these labels; empty or absent = any. */
  labels?: readonly string[] | null | undefined;
  /** Only results whose metadata contains this object (jsonb `@>`). */
  metadata?: Record<string, unknown> | null | undefined;
}

/** One succeeded result of a dataset, with its request and what reviewers made of it. */
export interface DatasetRow {
  line: number;
  customId: string;
  /** The request body as the input line gave it (JSON text). */
  body: string;
  /** The engine's response body (JSON text). */
  response: string;
  /** The reviewer's correction, which replaces the answer; null when there is none. */
  correction: string | null;
  metadata: Record<string, unknown> | null;
}

/**
 * One page of a batch's dataset rows after line `afterLine`, in line order: succeeded results
 * (`x`) with their requests (`r`), annotations (`a`) and metadata (`m`), filtered. Exports walk
 * batch by batch and page by line, so a dataset of any size is read a page at a time. As in
 * output-lines.ts, both results and requests are bounded by batch and line, so that Postgres
 * merge-joins the two (batch_id, line) indexes instead of reading from the batch's first line.
 */
export function datasetRowsPage(db: Executor, batchId: string, filter: DatasetFilter, afterLine: number, limit: number) {
  const conditions = [
    filter.goldOnly ? sql`and a.gold is true` : sql``,
    filter.minRating == null ? sql`` : sql`and a.rating >= ${filter.minRating}`,
    filter.labels?.length
      ? sql`and a.labels ?| array[${sql.join(
          filter.labels.map((label) => sql`${label}`),
          sql`, `,
        )}]::text[]`
      : sql``,
    filter.metadata ? sql`and m.metadata @> ${JSON.stringify(filter.metadata)}::jsonb` : sql``,
  ];
  return rows<DatasetRow>(
    db,
    sql`select x.line, r.custom_id as "customId", r.body, x.response, a.correction, m.metadata
        from results x
        join requests r on r.batch_id = x.batch_id and r.line = x.line
        left join result_annotations a on a.batch_id = x.batch_id and a.line = x.line
        left join result_metadata m on m.batch_id = x.batch_id and m.line = x.line
        where x.batch_id = ${batchId} and r.batch_id = ${batchId} and x.line > ${afterLine} and r.line > ${afterLine}
          and x.status = 'succeeded' and x.response is not null
          ${sql.join(conditions, sql` `)}
        order by x.line limit ${limit}`,
  );
}

/** A batch a dataset may be made of: its endpoint, and whether what its lines stored was removed with its files. */
export interface DatasetBatch {
  id: string;
  endpoint: string;
  /** The request bodies were removed (its input file expired or was deleted). */
  bodiesPurged: boolean;
  /** The responses were removed (its output and error files expired or were deleted). */
  resultsPurged: boolean;
}

/** The given batches that the owner has (another owner's batches are left out, as if unknown). */
export function datasetBatches(db: Executor, owner: string, ids: readonly string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return rows<DatasetBatch>(
    db,
    sql`select id, endpoint, bodies_purged_at is not null as "bodiesPurged", results_purged_at is not null as "resultsPurged"
        from batches where owner = ${owner} and id in (${sql.join(
          ids.map((id) => sql`${id}`),
          sql`, `,
        )})`,
  );
}
