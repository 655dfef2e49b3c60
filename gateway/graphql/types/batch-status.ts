import { BATCH_STATUSES, type BatchStatus } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';

/** Adds the `BatchStatus` enum (values as in OpenAI's Batch object); returns its ref. */
export function defineBatchStatus(builder: Builder) {
  return builder.enumType('BatchStatus', {
    description:
      'Where a batch is in its lifecycle: validating → in_progress → finalizing → completed, or failed, expired, cancelling → cancelled.',
    values: Object.fromEntries(BATCH_STATUSES.map((status) => [status, { value: status }])) as Record<BatchStatus, { value: BatchStatus }>,
  });
}
