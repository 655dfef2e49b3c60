import type { BatchRow } from '../schema/index.ts';

/** Unix seconds, as OpenAI's objects give times. */
export const seconds = (ms: number) => Math.floor(ms / 1000);

/** Unix seconds, or null for a time that has not come. */
export const secondsOrNull = (ms: number | null) => (ms === null ? null : seconds(ms));

/** OpenAI's Batch object of a batch row: what the REST API answers and what handlers receive. */
export function openaiBatchObject(batch: BatchRow) {
  return {
    id: batch.id,
    object: 'batch' as const,
    endpoint: batch.endpoint,
    model: batch.model,
    errors: batch.errors?.length
      ? { object: 'list' as const, data: batch.errors.map(({ code, line, message, param }) => ({ code, line, message, param })) }
      : null,
    input_file_id: batch.inputFileId,
    completion_window: batch.completionWindow,
    status: batch.status,
    output_file_id: batch.outputFileId,
    error_file_id: batch.errorFileId,
    created_at: seconds(batch.createdAtMs),
    in_progress_at: secondsOrNull(batch.inProgressAtMs),
    expires_at: seconds(batch.expiresAtMs),
    finalizing_at: secondsOrNull(batch.finalizingAtMs),
    completed_at: secondsOrNull(batch.completedAtMs),
    failed_at: secondsOrNull(batch.failedAtMs),
    expired_at: secondsOrNull(batch.expiredAtMs),
    cancelling_at: secondsOrNull(batch.cancellingAtMs),
    cancelled_at: secondsOrNull(batch.cancelledAtMs),
    request_counts: { total: batch.total, completed: batch.completed, failed: batch.failed },
    metadata: batch.metadata,
    usage: {
      input_tokens: batch.promptTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: batch.completionTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: batch.promptTokens + batch.completionTokens,
    },
  };
}
