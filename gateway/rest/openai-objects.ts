import { openaiBatchObject, seconds, secondsOrNull } from '../../core/openai-batch.ts';
import type { BatchEstimate, BatchRow, FileRow } from '../../schema/index.ts';

/** OpenAI's File object; `expires_at` only when the file expires (the SDKs type it `number | undefined`). */
export function fileObject(file: FileRow) {
  return {
    id: file.id,
    object: 'file' as const,
    bytes: file.bytes,
    created_at: seconds(file.createdAtMs),
    ...(file.expiresAtMs === null ? {} : { expires_at: seconds(file.expiresAtMs) }),
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed' as const,
  };
}

/**
 * OpenAI's Batch object, with this server's extensions: `priority`, `queue_position`,
 * `estimated_completion_at` (unix seconds; null when unknown or finished), `paused_at`
 * (unix seconds while its owner has it paused, else null; the status stays `in_progress`), and
 * the error budget: `max_failed_requests`, `max_failure_ratio`, `min_requests_for_ratio` (null
 * when not set) and `budget_exceeded_at` (unix seconds once it was found exceeded, else null).
 */
export function batchObject(batch: BatchRow, estimate?: BatchEstimate) {
  return {
    ...openaiBatchObject(batch),
    priority: batch.priority,
    queue_position: estimate?.queuePosition ?? null,
    estimated_completion_at: secondsOrNull(estimate?.estimatedCompletionAtMs ?? null),
    paused_at: secondsOrNull(batch.pausedAtMs),
    max_failed_requests: batch.maxFailedRequests,
    max_failure_ratio: batch.maxFailureRatio,
    min_requests_for_ratio: batch.maxFailureRatio === null ? null : batch.minRequestsForRatio,
    budget_exceeded_at: secondsOrNull(batch.budgetExceededAtMs),
  };
}

/** OpenAI's list envelope. */
export function listObject<T extends { id: string }>(data: T[], hasMore: boolean) {
  return { object: 'list' as const, data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore };
}
