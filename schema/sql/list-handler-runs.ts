import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { HandlerRunStatus } from '../states/handler-run-status.ts';
import { HANDLER_RUN_COLUMNS, toHandlerRunRow, type HandlerRunRow } from './handler-run-row.ts';

/**
 * The runs created with the given batches' final status (one per handler: not the runs of
 * annotation changes, of which a batch may have thousands), by batch then handler name; one
 * query for a page of batches.
 */
export async function listHandlerRuns(db: Executor, batchIds: string[]): Promise<HandlerRunRow[]> {
  if (batchIds.length === 0) return [];
  const raw = await rows<Parameters<typeof toHandlerRunRow>[0]>(
    db,
    sql`select ${HANDLER_RUN_COLUMNS} from handler_runs h
        where h.batch_id in (${sql.join(
          batchIds.map((id) => sql`${id}`),
          sql`, `,
        )}) and h.annotation_seq is null
        order by h.batch_id, h.handler`,
  );
  return raw.map(toHandlerRunRow);
}

/** Options for {@link listAnnotationRuns}. */
export interface ListAnnotationRunsOptions {
  batchId: string;
  limit: number;
  /** Only runs in these statuses (all when absent). */
  statuses?: readonly HandlerRunStatus[] | undefined;
}

/** A batch's runs for annotation changes, the newest change first, then by handler. */
export async function listAnnotationRuns(db: Executor, { batchId, limit, statuses }: ListAnnotationRunsOptions): Promise<HandlerRunRow[]> {
  const only = statuses?.length
    ? sql`and h.status in (${sql.join(
        statuses.map((s) => sql`${s}`),
        sql`, `,
      )})`
    : sql``;
  const raw = await rows<Parameters<typeof toHandlerRunRow>[0]>(
    db,
    sql`select ${HANDLER_RUN_COLUMNS} from handler_runs h
        where h.batch_id = ${batchId} and h.annotation_seq is not null ${only}
        order by h.annotation_seq desc, h.handler limit ${limit}`,
  );
  return raw.map(toHandlerRunRow);
}
