import type { HandlerBatch } from '../../handlers/sdk/index.ts';
import type { BatchRow } from '../../schema/index.ts';

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

/** The OpenAI Batch object of a batch row, plus its owner, as handlers receive it. */
export function toHandlerBatch(row: BatchRow): HandlerBatch {
  return {
    id: row.id,
    object: 'batch',
    owner: row.owner,
    endpoint: row.endpoint,
    model: row.model,
    errors: row.errors?.length ? { object: 'list', data: row.errors } : null,
    input_file_id: row.inputFileId,
    completion_window: row.completionWindow,
    status: row.status,
    output_file_id: row.outputFileId,
    error_file_id: row.errorFileId,
    created_at: seconds(row.createdAtMs) ?? 0,
    in_progress_at: seconds(row.inProgressAtMs),
    expires_at: seconds(row.expiresAtMs),
    finalizing_at: seconds(row.finalizingAtMs),
    completed_at: seconds(row.completedAtMs),
    failed_at: seconds(row.failedAtMs),
    expired_at: seconds(row.expiredAtMs),
    cancelling_at: seconds(row.cancellingAtMs),
    cancelled_at: seconds(row.cancelledAtMs),
    request_counts: { total: row.total, completed: row.completed, failed: row.failed },
    usage: { input_tokens: row.promptTokens, output_tokens: row.completionTokens, total_tokens: row.promptTokens + row.completionTokens },
    metadata: row.metadata,
  };
}
