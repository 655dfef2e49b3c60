import type { BatchProgress } from '../../subscriptions/progress-state.ts';
import type { Builder } from '../builder.ts';

/** Adds `Subscription.batchProgress(id)` and its `BatchProgress` type. */
export function defineBatchProgress(builder: Builder): void {
  const BatchProgressRef = builder.objectRef<BatchProgress>('BatchProgress').implement({
    description: 'The progress of one batch at one moment.',
    fields: (t) => ({
      batchId: t.exposeID('batchId'),
      status: t.exposeString('status', {
        description:
          'The batch status, as in the Batch object (validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled).',
      }),
      total: t.exposeInt('total', { description: 'Requests in the batch.' }),
      completed: t.exposeInt('completed', { description: 'Requests finished with a response.' }),
      failed: t.exposeInt('failed', { description: 'Requests finished with an error.' }),
      remaining: t.exposeInt('remaining', { description: 'Requests not finished yet.' }),
      promptTokens: t.exposeFloat('promptTokens'),
      completionTokens: t.exposeFloat('completionTokens'),
      tokensPerSecond: t.exposeFloat('tokensPerSecond', {
        description: 'Prompt and completion tokens per second over the last 30 seconds, as this gateway saw them.',
      }),
      requestsPerSecond: t.exposeFloat('requestsPerSecond', { description: 'Requests finished per second over the last 30 seconds.' }),
      estimatedSecondsLeft: t.exposeFloat('estimatedSecondsLeft', {
        nullable: true,
        description:
          'Remaining requests divided by requestsPerSecond; 0 once ended, null while unknown (nothing finished yet, or not running, or paused).',
      }),
      paused: t.exposeBoolean('paused', {
        description: 'True while its owner has it paused (pauseBatch): the status stays in_progress, but nothing more of it is leased.',
      }),
      pausedAt: t.expose('pausedAt', {
        type: 'DateTime',
        nullable: true,
        description: 'When it was paused; null while it is not paused.',
      }),
      final: t.exposeBoolean('final', { description: 'True on the last event: the batch has ended and the subscription completes.' }),
      updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When the newest change in this event was published.' }),
    }),
  });

  builder.subscriptionField('batchProgress', (t) =>
    t.field({
      type: BatchProgressRef,
      description:
        "The batch's current state at once, then every change (at most four events a second; a new status, a pause or a resume at once), " +
        'completing after the final state (completed, failed, expired or cancelled).',
      args: { id: t.arg.id({ required: true }) },
      subscribe: (_root, { id }, { progress, owner }) => progress.watch(String(id), owner),
      resolve: (progress) => progress,
    }),
  );
}
