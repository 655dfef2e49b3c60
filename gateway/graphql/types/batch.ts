import { batchEstimates, getBatch, getFile, type BatchEstimate, type BatchRow, type FileRow } from '../../../schema/index.ts';
import { cancel } from '../../batches/cancel.ts';
import { pause, resume } from '../../batches/pause.ts';
import { retry } from '../../batches/retry.ts';
import type { Builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import type { defineBatchError } from './batch-error.ts';
import type { defineBatchStatus } from './batch-status.ts';
import type { defineFile } from './file.ts';
import type { defineRequestCounts } from './request-counts.ts';

/** The refs the `Batch` type points to. */
export interface BatchRefs {
  File: ReturnType<typeof defineFile>;
  BatchStatus: ReturnType<typeof defineBatchStatus>;
  RequestCounts: ReturnType<typeof defineRequestCounts>;
  BatchError: ReturnType<typeof defineBatchError>;
}

// Both estimate fields of one batch share one query.
const estimates = new WeakMap<BatchRow, Promise<BatchEstimate | undefined>>();
function estimateOf(batch: BatchRow, { database }: GraphQLContext) {
  let estimate = estimates.get(batch);
  if (!estimate) {
    estimate = batchEstimates(database.db, [batch.id]).then((found) => found.get(batch.id));
    estimates.set(batch, estimate);
  }
  return estimate;
}

const at = (ms: number | null) => (ms === null ? null : new Date(ms));

/** Adds the `Batch` type, `Query.batch`, and `Mutation.cancelBatch` / `pauseBatch` / `resumeBatch` / `retryBatch`; returns the type's ref. */
export function defineBatch(builder: Builder, refs: BatchRefs) {
  const BatchRef = builder.objectRef<BatchRow>('Batch').implement({
    description: "A batch of requests, as in OpenAI's Batch object, with priority and queue estimates.",
    fields: (t) => {
      const file = (key: 'inputFileId' | 'outputFileId' | 'errorFileId', description: string) =>
        t.field({
          type: refs.File,
          nullable: true,
          description,
          resolve: (batch, _args, { database }): Promise<FileRow | undefined> | null => {
            const id = batch[key];
            return id ? getFile(database.db, id, batch.owner) : null;
          },
        });
      const time = (key: keyof BatchRow & `${string}AtMs`, description: string) =>
        t.field({ type: 'DateTime', nullable: true, description, resolve: (batch) => at(batch[key] as number | null) });
      return {
        id: t.exposeID('id'),
        status: t.field({ type: refs.BatchStatus, resolve: (batch) => batch.status }),
        endpoint: t.exposeString('endpoint', { description: '/v1/chat/completions, /v1/completions, /v1/embeddings or /v1/responses.' }),
        model: t.exposeString('model', {
          nullable: true,
          description: 'The model of every request; null when the batch mixes models or is still validating.',
        }),
        completionWindow: t.exposeString('completionWindow', { description: 'How long the batch may run, e.g. 24h.' }),
        priority: t.exposeInt('priority', { description: 'Higher runs first.' }),
        metadata: t.field({ type: 'JSON', nullable: true, resolve: (batch) => batch.metadata }),
        errors: t.field({
          type: [refs.BatchError],
          description:
            'Why the batch failed: one entry per bad line of its input, or one `too_many_failures` entry when it went over its error budget.',
          resolve: (batch) => batch.errors ?? [],
        }),
        requestCounts: t.field({ type: refs.RequestCounts, resolve: (batch) => batch }),
        promptTokens: t.exposeFloat('promptTokens'),
        completionTokens: t.exposeFloat('completionTokens'),
        inputFileId: t.exposeID('inputFileId'),
        outputFileId: t.exposeID('outputFileId', { nullable: true }),
        errorFileId: t.exposeID('errorFileId', { nullable: true }),
        inputFile: file('inputFileId', 'The input file (null once deleted).'),
        outputFile: file('outputFileId', 'The results of the requests that succeeded, once the batch has ended.'),
        errorFile: file('errorFileId', 'The requests that failed, were cancelled or expired, once the batch has ended.'),
        retriedFrom: t.exposeID('retriedFrom', { nullable: true, description: 'The batch this one retries.' }),
        createdAt: t.field({ type: 'DateTime', resolve: (batch) => new Date(batch.createdAtMs) }),
        expiresAt: t.field({
          type: 'DateTime',
          description: 'When the completion window ends.',
          resolve: (batch) => new Date(batch.expiresAtMs),
        }),
        inProgressAt: time('inProgressAtMs', 'When validation succeeded.'),
        finalizingAt: time('finalizingAtMs', 'When the last request finished.'),
        completedAt: time('completedAtMs', 'When the result files were ready.'),
        failedAt: time('failedAtMs', 'When validation failed, or the batch ended over its error budget.'),
        expiredAt: time('expiredAtMs', 'When the completion window ran out.'),
        cancellingAt: time('cancellingAtMs', 'When cancellation was asked for.'),
        cancelledAt: time('cancelledAtMs', 'When cancellation finished.'),
        pausedAt: time(
          'pausedAtMs',
          'When its owner paused it (pauseBatch); null while it is not paused. A paused batch keeps its status (in_progress) and leases nothing.',
        ),
        maxFailedRequests: t.exposeInt('maxFailedRequests', {
          nullable: true,
          description: 'Error budget: the batch stops once more requests than this have failed; null: no limit.',
        }),
        maxFailureRatio: t.exposeFloat('maxFailureRatio', {
          nullable: true,
          description:
            'Error budget as a share (0 to 1) of the finished requests, checked from minRequestsForRatio of them; null: no limit.',
        }),
        minRequestsForRatio: t.int({
          nullable: true,
          description: 'How many requests must have finished before maxFailureRatio is checked; null when maxFailureRatio is.',
          resolve: (batch) => (batch.maxFailureRatio === null ? null : batch.minRequestsForRatio),
        }),
        budgetExceededAt: time(
          'budgetExceededAtMs',
          'When the batch was found over its error budget: it stops at once and ends failed (too_many_failures); null otherwise.',
        ),
        queuePosition: t.int({
          nullable: true,
          description:
            'Unfinished batches sharing a model that run before this one (0: next or running); null once it has ended, and while it is paused.',
          resolve: async (batch, _args, context) => (await estimateOf(batch, context))?.queuePosition ?? null,
        }),
        estimatedCompletionAt: t.field({
          type: 'DateTime',
          nullable: true,
          description: 'When the batch should be done at the throughput its model(s) had over the last five minutes; null while unknown.',
          resolve: async (batch, _args, context) => at((await estimateOf(batch, context))?.estimatedCompletionAtMs ?? null),
        }),
      };
    },
  });

  builder.queryField('batch', (t) =>
    t.field({
      type: BatchRef,
      nullable: true,
      description: 'One of your batches, or null.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { database, owner }) => getBatch(database.db, String(id), owner),
    }),
  );

  builder.mutationField('cancelBatch', (t) =>
    t.field({
      type: BatchRef,
      description: 'Cancels a batch: queued requests stop, in-flight ones are aborted, finished results are kept.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { deps, owner }) => cancel(deps, owner, String(id)),
    }),
  );

  builder.mutationField('pauseBatch', (t) =>
    t.field({
      type: BatchRef,
      description:
        'Pauses a validating or in_progress batch: nothing more of it is leased, requests already running finish and are kept. ' +
        'Its status and completion window are unchanged; pausing a paused batch changes nothing.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { deps, owner }) => pause(deps, owner, String(id)),
    }),
  );

  builder.mutationField('resumeBatch', (t) =>
    t.field({
      type: BatchRef,
      description: 'Resumes a paused batch: its requests are leased again at once. Resuming a batch that is not paused changes nothing.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { deps, owner }) => resume(deps, owner, String(id)),
    }),
  );

  builder.mutationField('retryBatch', (t) =>
    t.field({
      type: BatchRef,
      description:
        'Creates a new batch of the failed and expired requests of a finished batch (same endpoint, window, priority and handlers).',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { deps, owner }) => retry(deps, owner, String(id)),
    }),
  );

  return BatchRef;
}
