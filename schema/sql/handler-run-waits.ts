import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** The handlers each handler runs after (a definition's `after`), by name. */
export type HandlerOrder = Readonly<Record<string, readonly string[]>>;

/**
 * The runs (`e`) a run `c` of an annotation change waits for: the earlier changes' runs of
 * the same result and handler that are not done. A dead one no longer holds the next.
 */
export const EARLIER_CHANGE_RUNS = sql`handler_runs e
  where c.annotation_seq is not null and e.annotation_seq is not null
    and e.batch_id = c.batch_id and e.line = c.line and e.handler = c.handler
    and e.annotation_seq < c.annotation_seq and e.status in ('queued', 'running')`;

/**
 * The runs (`a`) a run `c` waits for by its handler's `after`: those of the handlers it runs
 * after, for the same batch and event (the same change, or both for the batch's final
 * status), that have not succeeded or been skipped. A dead one holds it until it is retried.
 */
export function unfinishedBeforeRuns(after: HandlerOrder) {
  const pairs = Object.entries(after).flatMap(([handler, before]) => before.map((first) => ({ handler, first })));
  return sql`jsonb_to_recordset(${JSON.stringify(pairs)}::jsonb) as d(handler text, first text)
    join handler_runs a on a.batch_id = c.batch_id and a.handler = d.first
    where d.handler = c.handler
      and ((a.annotation_seq is null and c.annotation_seq is null) or a.annotation_seq = c.annotation_seq)
      and a.status not in ('succeeded', 'skipped')`;
}

/**
 * Why a queued run is not started yet although it may be due, in words (`HandlerRun.waitingFor`),
 * or null when it waits for nothing (or is not queued).
 */
export async function handlerRunWaits(db: Executor, { id, after }: { id: number; after: HandlerOrder }): Promise<string | null> {
  const [row] = await rows<{ waits: string | null }>(
    db,
    sql`select coalesce(
          (select 'run ' || e.id || ' of ' || e.handler || ' for an earlier change of this result (' || e.status || ')'
             from ${EARLIER_CHANGE_RUNS} order by e.annotation_seq limit 1),
          (select 'run ' || a.id || ' of ' || a.handler || ', which this handler runs after (' || a.status || ')'
             from ${unfinishedBeforeRuns(after)} order by a.id limit 1)
        ) as waits
        from handler_runs c where c.id = ${id} and c.status = 'queued'`,
  );
  return row?.waits ?? null;
}
