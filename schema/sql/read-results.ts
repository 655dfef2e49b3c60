import { sql, type SQL } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { AnnotationSource } from '../states/annotation-source.ts';
import type { AnnotationRow } from './record-annotation.ts';
import { FINISHED_REQUEST_STATES, type FinishedRequestState } from '../states/request-state.ts';

/** The status of a result line: its result's, or `pending` while the request has no result. */
export const RESULT_VIEW_STATUSES = [...FINISHED_REQUEST_STATES, 'pending'] as const;

/** The status of a result line. */
export type ResultViewStatus = (typeof RESULT_VIEW_STATUSES)[number];

/** Which lines of a batch {@link readResultsPage} and {@link countResults} keep; every field is optional. */
export interface ResultFilter {
  /** Lines in any of these statuses. */
  status?: readonly ResultViewStatus[] | null | undefined;
  /** true: starred gold; false: not starred (unannotated included). */
  gold?: boolean | null | undefined;
  /** true: an annotation with at least one field set; false: none. */
  annotated?: boolean | null | undefined;
  /** Rated at least this (unrated lines are left out). */
  minRating?: number | null | undefined;
  /** The annotation's labels include this one. */
  label?: string | null | undefined;
  /** Case-insensitive substring of the request body, the response body or the correction. */
  search?: string | null | undefined;
}

/** A line's annotation as {@link readResultsPage} returns it (without its change sequence). */
export type ResultAnnotation = Omit<AnnotationRow, 'batchId' | 'customId' | 'line' | 'seq'>;

/** One line of a batch with its request, result (if any), metadata and annotation. */
export interface ResultView {
  line: number;
  customId: string;
  status: ResultViewStatus;
  /** The request body as the input line gave it (JSON text; empty once purged). */
  body: string;
  /** The engine's response body (JSON text), or null. */
  response: string | null;
  error: { code: string; message: string } | null;
  promptTokens: number | null;
  completionTokens: number | null;
  durationMs: number | null;
  metadata: Record<string, unknown> | null;
  annotation: ResultAnnotation | null;
}

type RawResult = Omit<ResultView, 'annotation' | 'status'> & {
  status: FinishedRequestState | null;
  annotator: string | null;
  source: AnnotationSource | null;
  updatedAt: string | null;
} & { [K in 'gold' | 'rating' | 'correction' | 'labels' | 'note']: ResultAnnotation[K] };

const ANNOTATED = sql`(a.gold is not null or a.rating is not null or a.correction is not null or a.labels is not null or a.note is not null)`;
const contains = (column: SQL, needle: string) => sql`strpos(lower(coalesce(${column}, '')), lower(${needle})) > 0`;

function conditions(filter: ResultFilter): SQL {
  const parts: SQL[] = [];
  if (filter.status?.length) {
    const finished = filter.status.filter((s): s is FinishedRequestState => s !== 'pending');
    const either = [
      ...(finished.length
        ? [
            sql`x.status in (${sql.join(
              finished.map((s) => sql`${s}`),
              sql`, `,
            )})`,
          ]
        : []),
      ...(filter.status.includes('pending') ? [sql`x.line is null`] : []),
    ];
    parts.push(sql`(${sql.join(either, sql` or `)})`);
  }
  if (filter.gold === true) parts.push(sql`a.gold is true`);
  if (filter.gold === false) parts.push(sql`a.gold is not true`);
  if (filter.annotated === true) parts.push(ANNOTATED);
  if (filter.annotated === false) parts.push(sql`not coalesce(${ANNOTATED}, false)`);
  if (filter.minRating != null) parts.push(sql`a.rating >= ${filter.minRating}`);
  if (filter.label != null) parts.push(sql`a.labels @> jsonb_build_array(${filter.label}::text)`);
  if (filter.search) {
    parts.push(
      sql`(${contains(sql`r.body`, filter.search)} or ${contains(sql`x.response`, filter.search)} or ${contains(sql`a.correction`, filter.search)})`,
    );
  }
  return parts.length ? sql`and ${sql.join(parts, sql` and `)}` : sql``;
}

/**
 * The lines of one batch after `afterLine` (requests `r`, with their result `x`, annotation `a`
 * and metadata `m` when they have one). As in output-lines.ts, every side is bounded by batch
 * and line so that Postgres walks the (batch_id, line) indexes together from `afterLine`
 * rather than from the batch's first line on every page.
 */
function lines(batchId: string, afterLine: number, filter: ResultFilter): SQL {
  const side = (alias: string) => sql.raw(`${alias}.batch_id = r.batch_id and ${alias}.line = r.line and ${alias}.line > `);
  return sql`requests r
    left join results x on ${side('x')}${afterLine} and x.batch_id = ${batchId}
    left join result_annotations a on ${side('a')}${afterLine} and a.batch_id = ${batchId}
    left join result_metadata m on ${side('m')}${afterLine} and m.batch_id = ${batchId}
    where r.batch_id = ${batchId} and r.line > ${afterLine} ${conditions(filter)}`;
}

/** One page of a batch's lines after `afterLine`, in line order, as the filter keeps them. The caller checks the batch's owner. */
export async function readResultsPage(
  db: Executor,
  batchId: string,
  filter: ResultFilter,
  afterLine: number,
  limit: number,
): Promise<ResultView[]> {
  const found = await rows<RawResult>(
    db,
    sql`select r.line, r.custom_id as "customId", x.status, r.body, x.response, x.error,
          x.prompt_tokens as "promptTokens", x.completion_tokens as "completionTokens",
          case when x.started_at is null then null
               else round(extract(epoch from (x.finished_at - x.started_at)) * 1000)::int end as "durationMs",
          m.metadata, a.gold, a.rating::int as rating, a.correction, a.labels, a.note, a.annotator, a.source,
          to_char(a.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "updatedAt"
        from ${lines(batchId, afterLine, filter)}
        order by r.line limit ${limit}`,
  );
  return found.map(({ gold, rating, correction, labels, note, annotator, source, updatedAt, status, ...rest }) => ({
    ...rest,
    status: status ?? 'pending',
    annotation:
      annotator === null || source === null || updatedAt === null
        ? null
        : { gold, rating, correction, labels, note, annotator, source, updatedAt },
  }));
}

/** How many lines of a batch the filter keeps. */
export async function countResults(db: Executor, batchId: string, filter: ResultFilter): Promise<number> {
  const [counted] = await rows<{ count: number }>(db, sql`select count(*)::int as count from ${lines(batchId, 0, filter)}`);
  return counted?.count ?? 0;
}
