import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { AnnotationSource } from '../states/annotation-source.ts';

/** The fields of an annotation a change can set: left out (undefined) = unchanged, null = cleared. */
export interface AnnotationPatch {
  gold?: boolean | null;
  rating?: number | null;
  correction?: string | null;
  labels?: string[] | null;
  note?: string | null;
}

/** A result's annotation as stored (the shape of the handlers' `context.annotation`, and of GraphQL's `Annotation`). */
export interface AnnotationRow {
  batchId: string;
  customId: string;
  line: number;
  gold: boolean | null;
  rating: number | null;
  correction: string | null;
  labels: string[] | null;
  note: string | null;
  annotator: string;
  source: AnnotationSource;
  /** ISO 8601. */
  updatedAt: string;
  /** The change's place in result_annotation_seq. */
  seq: number;
}

/** What {@link recordAnnotation} is given. */
export interface RecordAnnotationInput {
  batchId: string;
  customId: string;
  /** Only this owner's batches; null when the caller authenticated otherwise (Label Studio's webhook secret). */
  owner: string | null;
  patch: AnnotationPatch;
  annotator: string;
  source: AnnotationSource;
  /**
   * The handlers of this deployment that run on `result.annotated` (or a function of the
   * batch's stored handler options that says which, for handlers whose events depend on them);
   * of these, the ones the batch named in `handlers` at creation get a run for the change.
   */
  annotationHandlers: readonly string[] | ((storedHandlers: Record<string, unknown>) => readonly string[]);
}

/** What {@link recordAnnotation} did. */
export type RecordAnnotationOutcome =
  /**
   * `changed` is false when the patch left every field as it was (no runs were created);
   * `annotation` is null when the result has none and the patch set nothing.
   */
  | { ok: true; line: number; owner: string; annotation: AnnotationRow | null; changed: boolean; runs: number }
  | { ok: false; reason: 'not_found' | 'no_result' };

const FIELDS = ['gold', 'rating', 'correction', 'labels', 'note'] as const;

const COLUMNS = sql`a.batch_id as "batchId", a.custom_id as "customId", a.line, a.gold, a.rating::int as "rating", a.correction,
  a.labels, a.note, a.annotator, a.source, to_char(a.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "updatedAt",
  a.seq::float8 as "seq"`;

/**
 * Records one change of a result's annotation, in one transaction that locks the request's
 * row first, so that changes of one result (even its first two, before it has an annotation
 * row to lock) are made one after the other and take their seq in that order: the annotation row (made
 * on the first change), then one queued `result.annotated` handler run per handler that the
 * batch named and that runs on annotations, carrying the annotation as this change left it.
 * The caller publishes the change and NOTIFYs HANDLER_RUNS_CHANNEL after it commits.
 * `not_found`: no such batch of this owner, or no such custom_id in it; `no_result`: the
 * request has no result yet (nothing to judge).
 */
export async function recordAnnotation(db: Executor, input: RecordAnnotationInput): Promise<RecordAnnotationOutcome> {
  return db.transaction(async (tx): Promise<RecordAnnotationOutcome> => {
    const [target] = await rows<{ line: number; hasResult: boolean; owner: string; handlers: Record<string, unknown> | null }>(
      tx,
      sql`select r.line, exists (select 1 from results x where x.batch_id = r.batch_id and x.line = r.line) as "hasResult",
                 b.owner, b.handlers
          from requests r join batches b on b.id = r.batch_id
          where r.batch_id = ${input.batchId} and r.custom_id = ${input.customId}
            ${input.owner === null ? sql`` : sql`and b.owner = ${input.owner}`}
          order by r.line limit 1
          for update of r`,
    );
    if (!target) return { ok: false, reason: 'not_found' } as const;
    if (!target.hasResult) return { ok: false, reason: 'no_result' } as const;
    const { line, owner } = target;

    const [before] = await rows<AnnotationRow>(
      tx,
      sql`select ${COLUMNS} from result_annotations a where a.batch_id = ${input.batchId} and a.line = ${line} for update`,
    );
    const next = Object.fromEntries(
      FIELDS.map((field) => [field, input.patch[field] === undefined ? (before?.[field] ?? null) : input.patch[field]]),
    ) as Required<AnnotationPatch>;
    const changed = FIELDS.some((field) => JSON.stringify(before?.[field] ?? null) !== JSON.stringify(next[field]));
    // A first change that sets nothing leaves no row: there is no annotation to show or to run for.
    if (!changed) return { ok: true, line, owner, annotation: before ?? null, changed: false, runs: 0 };

    const [annotation] = await rows<AnnotationRow>(
      tx,
      sql`insert into result_annotations as a (batch_id, line, custom_id, gold, rating, correction, labels, note, annotator, source, seq)
          values (${input.batchId}, ${line}, ${input.customId}, ${next.gold}, ${next.rating}, ${next.correction},
                  ${next.labels === null ? null : JSON.stringify(next.labels)}::jsonb, ${next.note}, ${input.annotator}, ${input.source},
                  nextval('result_annotation_seq'))
          on conflict (batch_id, line) do update set
            gold = excluded.gold, rating = excluded.rating, correction = excluded.correction, labels = excluded.labels,
            note = excluded.note, annotator = excluded.annotator, source = excluded.source, seq = excluded.seq, updated_at = now()
          returning ${COLUMNS}`,
    );
    if (!annotation) throw new Error('recordAnnotation: the upsert returned no row');
    // The handlers that get a run: the batch named them at creation, and they run on annotations.
    const stored = target.handlers ?? {};
    const wanted = typeof input.annotationHandlers === 'function' ? input.annotationHandlers(stored) : input.annotationHandlers;
    const named = wanted.filter((handler) => Object.hasOwn(stored, handler));
    if (named.length) {
      const { seq: _seq, ...payload } = annotation;
      const snapshot = JSON.stringify(payload);
      await tx.execute(
        sql`insert into handler_runs (batch_id, handler, event, line, annotation_seq, annotation)
            values ${sql.join(
              named.map(
                (handler) => sql`(${input.batchId}, ${handler}, 'result.annotated', ${line}, ${annotation.seq}, ${snapshot}::jsonb)`,
              ),
              sql`, `,
            )}`,
      );
    }
    const runs = named.length;
    return { ok: true, line, owner, annotation, changed: true, runs };
  });
}
