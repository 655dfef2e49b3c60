import { AppError } from '../../../core/errors.ts';
import { TOPICS, type ResultAnnotatedEvent } from '../../../core/events/index.ts';
import { getBatch, type ResultView } from '../../../schema/index.ts';
import { streamTopic } from '../../subscriptions/topic-stream.ts';
import type { Builder } from '../builder.ts';
import { readResult, type defineResult } from './result.ts';

/** Adds `Subscription.resultAnnotations(batchId)`. */
export function defineResultAnnotations(builder: Builder, { Result }: Pick<ReturnType<typeof defineResult>, 'Result'>) {
  builder.subscriptionField('resultAnnotations', (t) =>
    t.field({
      type: Result,
      description:
        "Each change of an annotation of the batch's results (from the API, the dashboard or Label Studio), as the result is after it. " +
        'Never completes; changes made while not subscribed are read with Batch.results.',
      args: { batchId: t.arg.id({ required: true }) },
      subscribe: async (_root, { batchId }, { database, bus, owner, metrics }) => {
        const id = String(batchId);
        if (!(await getBatch(database.db, id, owner))) {
          throw new AppError('NOT_FOUND', `No batch with id ${id}; check the id (batches of other API keys are not visible).`, {
            param: 'batchId',
          });
        }
        // The bus event itself (not its line) is passed on, so that subscribers of one process share
        // it and useSharedSubscriptionResults could read the result once for all of them.
        return streamTopic<ResultAnnotatedEvent>({
          bus,
          metrics,
          topic: TOPICS.annotations(id),
          subscription: 'resultAnnotations',
          map: (event) => (event.type === 'result.annotated' && event.owner === owner && event.batchId === id ? event : null),
        });
      },
      resolve: async ({ annotation: { line } }, { batchId }, { database }): Promise<ResultView> => {
        const result = await readResult(database, String(batchId), line);
        if (!result) throw new AppError('NOT_FOUND', `Line ${line} of batch ${String(batchId)} is gone.`, { param: 'batchId' });
        return result;
      },
    }),
  );
}
