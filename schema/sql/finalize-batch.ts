import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { FINALIZED_FROM, type FinalStatus } from '../states/batch-status.ts';
import type { BatchErrorItem } from '../tables/batches.ts';
import { insertHandlerRuns } from './insert-handler-runs.ts';
import { resultFileSize, type ResultKind } from './output-lines.ts';

/** The id of a batch's output or error file: derived from the batch, so finalizing twice creates nothing twice. */
export function resultFileId(batchId: string, kind: ResultKind): string {
  const digest = createHash('sha256').update(`${batchId}:${kind}`).digest('base64url').replace(/[-_]/g, '');
  return `file-${digest.slice(0, 24)}`;
}

/**
 * Gives a batch its final status: output and error file rows (only for files with lines,
 * as OpenAI does; expiring after the batch's `output_expires_after` seconds, when set), the
 * status and its timestamp (and `errors`, when given: why it `failed`), and one handler run per
 * handler the batch asked for, in one transaction. Returns false when another process got there
 * first.
 */
export async function finalizeBatch(db: Executor, batchId: string, status: FinalStatus, errors?: BatchErrorItem[]): Promise<boolean> {
  // Sizes are computed by Postgres before the transaction; the rows they describe no
  // longer change, because every request of the batch has reached a final status.
  const output = await resultFileSize(db, batchId, 'output');
  const error = await resultFileSize(db, batchId, 'error');
  return db.transaction(async (tx) => {
    const [batch] = await rows<{ owner: string; outputExpiresAfter: number | null }>(
      tx,
      sql`select owner, output_expires_after as "outputExpiresAfter" from batches where id = ${batchId} and status = ${FINALIZED_FROM[status]} for update`,
    );
    if (!batch) return false;
    const files: Partial<Record<ResultKind, string>> = {};
    for (const [kind, size] of [
      ['output', output],
      ['error', error],
    ] as const) {
      if (size.lines === 0) continue;
      const id = resultFileId(batchId, kind);
      files[kind] = id;
      // The error file is stored as `batch_error`, as the previous release's gateway expects (it
      // picks a download's lines by purpose); the API shows both as OpenAI's `batch_output`.
      await tx.execute(sql`
        insert into files (id, owner, purpose, filename, bytes, lines, batch_id, expires_at)
        values (${id}, ${batch.owner}, ${kind === 'error' ? 'batch_error' : 'batch_output'}, ${`${batchId}_${kind}.jsonl`}, ${size.bytes}, ${size.lines}, ${batchId},
          ${batch.outputExpiresAfter === null ? null : sql`now() + make_interval(secs => ${batch.outputExpiresAfter})`})
        on conflict (id) do nothing`);
    }
    // Each status has its time in the column named after it.
    await tx.execute(sql`
      update batches set status = ${status}, ${sql.raw(`${status}_at`)} = now(),
        output_file_id = ${files.output ?? null}, error_file_id = ${files.error ?? null}${errors ? sql`, errors = ${JSON.stringify(errors)}::jsonb` : sql``}
      where id = ${batchId}`);
    await insertHandlerRuns(tx, batchId, status);
    return true;
  });
}
