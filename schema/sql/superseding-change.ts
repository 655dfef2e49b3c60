import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/**
 * The seq of a later annotation change of the same result whose run of the same handler has
 * already succeeded, if any: a run of an earlier change (a dead one retried after the later
 * one went through) would apply an annotation that no longer stands, so it is skipped instead.
 */
export async function supersedingChange(
  db: Executor,
  run: { batchId: string; handler: string; line: number | null; annotationSeq: number | null },
): Promise<number | undefined> {
  if (run.annotationSeq === null || run.line === null) return undefined;
  const [later] = await rows<{ seq: number }>(
    db,
    sql`select max(annotation_seq)::float8 as seq from handler_runs
        where batch_id = ${run.batchId} and line = ${run.line} and handler = ${run.handler}
          and annotation_seq > ${run.annotationSeq} and status = 'succeeded'
        having max(annotation_seq) is not null`,
  );
  return later?.seq;
}
