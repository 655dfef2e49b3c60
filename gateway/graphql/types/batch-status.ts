import type { Builder } from '../builder.ts';

/** The statuses of a batch, as OpenAI names them. */
export const BATCH_STATUSES = [
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
] as const;

/** Adds the `BatchStatus` enum (values as in OpenAI's Batch object); returns its ref. */
export function defineBatchStatus(builder: Builder) {
  return builder.enumType('BatchStatus', {
    description:
      'Where a batch is in its lifecycle: validating → in_progress → finalizing → completed, or failed, expired, cancelling → cancelled.',
    values: Object.fromEntries(BATCH_STATUSES.map((status) => [status, { value: status }])) as Record<
      (typeof BATCH_STATUSES)[number],
      { value: (typeof BATCH_STATUSES)[number] }
    >,
  });
}
