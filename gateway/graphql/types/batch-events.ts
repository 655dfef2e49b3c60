import { isTerminalBatchStatus } from '../../../schema/index.ts';
import { streamTopic } from '../../subscriptions/topic-stream.ts';
import { TOPICS } from '../../../core/events/index.ts';
import type { Builder } from '../builder.ts';

/** A change of one of the caller's batches. */
export interface BatchEvent {
  kind: 'CREATED' | 'STATUS_CHANGED' | 'FINISHED';
  batchId: string;
  status: string;
  previousStatus: string | null;
  at: Date;
}

/** Adds `Subscription.batchEvents` and its `BatchEvent` type. */
export function defineBatchEvents(builder: Builder): void {
  const KindRef = builder.enumType('BatchEventKind', {
    description: 'What happened to a batch.',
    values: {
      CREATED: { description: 'The batch was created (status validating).' },
      STATUS_CHANGED: { description: 'The batch moved to another status that is not final.' },
      FINISHED: { description: 'The batch reached a final status: completed, failed, expired or cancelled.' },
    } as const,
  });
  const BatchEventRef = builder.objectRef<BatchEvent>('BatchEvent').implement({
    description: "A change of one of the caller's batches.",
    fields: (t) => ({
      kind: t.expose('kind', { type: KindRef }),
      batchId: t.exposeID('batchId'),
      status: t.exposeString('status'),
      previousStatus: t.exposeString('previousStatus', { nullable: true }),
      at: t.expose('at', { type: 'DateTime' }),
    }),
  });

  builder.subscriptionField('batchEvents', (t) =>
    t.field({
      type: BatchEventRef,
      description: "Every batch of the caller's API key as it is created, changes status and finishes. Never completes.",
      subscribe: (_root, _args, { bus, owner, metrics }) =>
        streamTopic<BatchEvent>({
          bus,
          metrics,
          topic: TOPICS.ownerBatches(owner),
          subscription: 'batchEvents',
          map: (event) => {
            if (event.type !== 'batch.status' || event.owner !== owner) return null;
            const kind = event.previous === null ? 'CREATED' : isTerminalBatchStatus(event.status) ? 'FINISHED' : 'STATUS_CHANGED';
            return { kind, batchId: event.batchId, status: event.status, previousStatus: event.previous, at: new Date(event.at) };
          },
        }),
      resolve: (event) => event,
    }),
  );
}
