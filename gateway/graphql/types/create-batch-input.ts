import { AppError } from '../../../core/errors.ts';
import { parseBatchHandlers } from '../../batches/batch-handlers.ts';
import { parseBatchSpec } from '../../batches/batch-spec.ts';
import { submitBatch } from '../../batches/submit-batch.ts';
import { MAX_INLINE_REQUESTS, submitInlineBatch } from '../../batches/submit-inline-batch.ts';
import type { Builder } from '../builder.ts';
import type { defineBatch } from './batch.ts';
import type { defineBatchRequestInput } from './batch-request-input.ts';
import type { defineHandlerTypes } from './handler-types.ts';

/** The refs `CreateBatchInput` and `Mutation.createBatch` point to. */
export interface CreateBatchRefs {
  Batch: ReturnType<typeof defineBatch>;
  BatchRequestInput: ReturnType<typeof defineBatchRequestInput>;
  /** The installed handlers' options (absent when none is installed). */
  BatchHandlersInput?: ReturnType<typeof defineHandlerTypes>;
}

/** Adds the `CreateBatchInput` input type and `Mutation.createBatch`; returns the input's ref. */
export function defineCreateBatchInput(builder: Builder, refs: CreateBatchRefs) {
  const CreateBatchInputRef = builder.inputType('CreateBatchInput', {
    description: 'A batch to create: from an uploaded file (`inputFileId`) or from requests given inline (`requests`), not both.',
    fields: (t) => ({
      inputFileId: t.id({ description: 'An uploaded file with purpose "batch".' }),
      requests: t.field({
        type: [refs.BatchRequestInput],
        description: `Requests given inline instead of a file, at most ${MAX_INLINE_REQUESTS}.`,
      }),
      endpoint: t.string({ required: true, description: '/v1/chat/completions, /v1/completions, /v1/embeddings or /v1/responses.' }),
      completionWindow: t.string({
        required: true,
        defaultValue: '24h',
        description: 'How long the batch may run: a number of hours such as "24h".',
      }),
      metadata: t.field({ type: 'JSON', description: 'Up to 16 string pairs of your own.' }),
      priority: t.int({ required: true, defaultValue: 0, description: 'From -1000 to 1000; higher runs first.' }),
      outputExpiresAfterSeconds: t.int({
        description:
          'Seconds (3600 to 2592000) the output and error files live after they are created; by default FILE_RETENTION_DAYS, or kept.',
      }),
      maxFailedRequests: t.int({
        description:
          'Error budget: the batch stops, and ends `failed` (error `too_many_failures`), once more requests than this have failed. Null (the default): no limit.',
      }),
      maxFailureRatio: t.float({
        description:
          'Error budget as a share (0 to 1) of the finished requests: the batch stops once more of them have failed, checked from `minRequestsForRatio` finished requests. Null (the default): no limit.',
      }),
      minRequestsForRatio: t.int({
        description: 'How many requests must have finished before `maxFailureRatio` is checked (default 100); only with `maxFailureRatio`.',
      }),
      ...(refs.BatchHandlersInput
        ? {
            handlers: t.field({
              type: refs.BatchHandlersInput,
              description: 'Result handlers to run when the batch ends, with their options (see Query.handlers).',
            }),
          }
        : {}),
    }),
  });

  builder.mutationField('createBatch', (t) =>
    t.field({
      type: refs.Batch,
      description:
        'Creates a batch in `validating`; it is validated in the background, then queued (`in_progress`) or `failed` with its errors.',
      args: { input: t.arg({ type: CreateBatchInputRef, required: true }) },
      resolve: async (_root, { input }, { deps, owner }) => {
        const fromFile = input.inputFileId !== null && input.inputFileId !== undefined;
        if (fromFile === Boolean(input.requests)) {
          throw new AppError('BAD_REQUEST', 'Give either inputFileId or requests.', { param: 'inputFileId' });
        }
        const seconds = input.outputExpiresAfterSeconds;
        const spec = parseBatchSpec({
          ...input,
          inputFileId: fromFile ? String(input.inputFileId) : 'inline',
          outputExpiresAfter: seconds === null || seconds === undefined ? undefined : { anchor: 'created_at', seconds },
        });
        const handlers = await parseBatchHandlers(deps, (input as { handlers?: unknown }).handlers);
        if (fromFile) return submitBatch(deps, owner, spec, handlers);
        return submitInlineBatch(deps, owner, spec, input.requests ?? [], handlers);
      },
    }),
  );

  return CreateBatchInputRef;
}
