import { sql } from 'drizzle-orm';
import type { HandlerRunStatus } from '../states/handler-run-status.ts';

/** A handler run as the API shows it; times in milliseconds since the epoch. */
export interface HandlerRunRow {
  id: number;
  batchId: string;
  handler: string;
  event: string;
  /** For `result.annotated`: the annotated line; otherwise null. */
  line: number | null;
  /** For `result.annotated`: the change's place in result_annotation_seq; otherwise null. */
  annotationSeq: number | null;
  /** For `result.annotated`: the annotation as the change left it (the handler's `context.annotation`); otherwise null. */
  annotation: unknown;
  status: HandlerRunStatus;
  attempts: number;
  maxAttempts: number;
  nextAttemptAtMs: number;
  lastError: string | null;
  result: unknown;
  createdAtMs: number;
  updatedAtMs: number;
  finishedAtMs: number | null;
}

const ms = (column: string) => sql.raw(`(extract(epoch from h.${column}) * 1000)::float8`);

/** The columns of {@link HandlerRunRow} (table alias `h`), cast the same way on both drivers; `result` and `annotation` are JSON text. */
export const HANDLER_RUN_COLUMNS = sql`h.id::float8 as "id", h.batch_id as "batchId", h.handler, h.event, h.line,
  h.annotation_seq::float8 as "annotationSeq", h.annotation::text as "annotation", h.status, h.attempts,
  h.max_attempts as "maxAttempts", ${ms('next_attempt_at')} as "nextAttemptAtMs", h.last_error as "lastError",
  h.result::text as "result", ${ms('created_at')} as "createdAtMs", ${ms('updated_at')} as "updatedAtMs",
  ${ms('finished_at')} as "finishedAtMs"`;

/** Parses the JSON columns of a row selected with {@link HANDLER_RUN_COLUMNS}. */
export function toHandlerRunRow(
  raw: Omit<HandlerRunRow, 'result' | 'annotation'> & { result: string | null; annotation: string | null },
): HandlerRunRow {
  return {
    ...raw,
    result: raw.result === null ? null : JSON.parse(raw.result),
    annotation: raw.annotation === null ? null : JSON.parse(raw.annotation),
  };
}
