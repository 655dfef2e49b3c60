import { queueShares, type ModelQueueShares, type OwnerShare } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';

/** An owner's share as GraphQL shows it: the row knows whether it is the caller's. */
type OwnerShareView = OwnerShare & { yours: boolean };

/** Adds the `OwnerShare` and `ModelQueue` types and `Query.queueShares`; returns the types' refs. */
export function defineQueueShares(builder: Builder) {
  const OwnerShareRef = builder.objectRef<OwnerShareView>('OwnerShare').implement({
    description: "One owner's work for a model, and its slice of the fleet against what fair share gives it.",
    fields: (t) => ({
      owner: t.exposeString('owner'),
      yours: t.exposeBoolean('yours', { description: "Whether this is the caller's own row." }),
      weight: t.exposeFloat('weight', { description: "The owner's fair-share weight (setOwnerWeight; 1 by default)." }),
      queuedLines: t.exposeFloat('queuedLines', { description: 'Requests waiting for a worker.' }),
      inFlightLines: t.exposeFloat('inFlightLines', {
        description: 'Requests workers hold without a result yet (running, or next on a worker).',
      }),
      share: t.exposeFloat('share', {
        nullable: true,
        description: "The owner's part of the model's in-flight requests, 0 to 1; null while none are in flight.",
      }),
      fairShare: t.exposeFloat('fairShare', {
        description:
          'The part fair share gives it, 0 to 1: its weight over the summed weights of the owners with queued or in-flight work for the model. It gets less while it has fewer requests than that, or while work of a higher priority runs.',
      }),
    }),
  });

  const ModelQueueRef = builder.objectRef<ModelQueueShares & { owners: OwnerShareView[] }>('ModelQueue').implement({
    description: "The queue of one model, summed over every owner, and the owners' shares of the fleet.",
    fields: (t) => ({
      model: t.exposeString('model'),
      queuedLines: t.exposeFloat('queuedLines', { description: "Every owner's requests waiting for a worker." }),
      inFlightLines: t.exposeFloat('inFlightLines', { description: "Every owner's requests that workers hold." }),
      activeOwners: t.exposeInt('activeOwners', { description: 'Owners with queued or in-flight requests for the model.' }),
      owners: t.field({
        type: [OwnerShareRef],
        description:
          'An administrator sees every active owner; other keys see only their own row (empty when they have no work for the model).',
        resolve: (queue) => queue.owners,
      }),
    }),
  });

  builder.queryField('queueShares', (t) =>
    t.field({
      type: [ModelQueueRef],
      description:
        'Per model with work queued or in flight, by name: the requests of every owner, and how the fleet is shared between owners.',
      args: { model: t.arg.string({ description: 'Only this model.' }) },
      resolve: async (_root, { model }, { database, owner, admin }) => {
        const queues = await queueShares(database.db, { model: model ?? undefined, onlyOwner: admin ? undefined : owner });
        return queues.map((queue) => ({ ...queue, owners: queue.owners.map((share) => ({ ...share, yours: share.owner === owner })) }));
      },
    }),
  );

  return { OwnerShareRef, ModelQueueRef };
}
