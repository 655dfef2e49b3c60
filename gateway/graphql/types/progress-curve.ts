import { AppError } from '../../../core/errors.ts';
import { batchEstimates, type BatchRow } from '../../../schema/index.ts';
import { batchProgressCurve, PROGRESS_CURVE_BUCKETS, type ProgressCurvePoint } from '../../../schema/sql/batch-progress-curve.ts';
import type { Builder } from '../builder.ts';
import type { defineBatch } from './batch.ts';

/** A batch's curve as GraphQL resolves it: the points, with the batch they belong to. */
interface ProgressCurve {
  batch: BatchRow;
  points: ProgressCurvePoint[];
}

/** Adds the `ProgressPoint` and `ProgressCurve` types and `Batch.progressCurve`; returns the types' refs. */
export function defineProgressCurve(builder: Builder, Batch: ReturnType<typeof defineBatch>) {
  const ProgressPointRef = builder.objectRef<ProgressCurvePoint>('ProgressPoint').implement({
    description: 'Requests of a batch run by a moment: the last result of a time bucket.',
    fields: (t) => ({
      at: t.field({ type: 'DateTime', resolve: (point) => new Date(point.atMs) }),
      finished: t.exposeFloat('finished', { description: 'Requests run so far (succeeded and failed).' }),
      failed: t.exposeFloat('failed', { description: 'Of those, failed.' }),
    }),
  });

  const ProgressCurveRef = builder.objectRef<ProgressCurve>('ProgressCurve').implement({
    description: "A batch's progress over time, from its results, and when it should be done.",
    fields: (t) => ({
      startedAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When the batch went in progress: the curve starts there at 0.',
        resolve: ({ batch }) => (batch.inProgressAtMs === null ? null : new Date(batch.inProgressAtMs)),
      }),
      total: t.int({ description: 'Requests in the batch: where the curve ends.', resolve: ({ batch }) => batch.total }),
      points: t.field({
        type: [ProgressPointRef],
        description:
          'Cumulative, oldest first; empty before the first result, and once the results of an ended batch were removed with its files.',
        resolve: (curve) => curve.points,
      }),
      estimatedCompletionAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: "The batch's estimate (as Batch.estimatedCompletionAt): where the curve should reach total. Null once it ended.",
        resolve: async ({ batch }, _args, { database }) => {
          const estimate = (await batchEstimates(database.db, [batch.id])).get(batch.id);
          return estimate?.estimatedCompletionAtMs ? new Date(estimate.estimatedCompletionAtMs) : null;
        },
      }),
    }),
  });

  builder.objectField(Batch, 'progressCurve', (t) =>
    t.field({
      type: ProgressCurveRef,
      description: 'Requests run over time, for a chart of the batch: finished counts per time bucket, and the estimated finish.',
      args: {
        buckets: t.arg.int({
          required: true,
          defaultValue: PROGRESS_CURVE_BUCKETS,
          description: `Points at most, 2 to ${PROGRESS_CURVE_BUCKETS}.`,
        }),
      },
      resolve: async (batch, { buckets }, { database }) => {
        if (buckets < 2 || buckets > PROGRESS_CURVE_BUCKETS)
          throw new AppError('BAD_REQUEST', `buckets must be from 2 to ${PROGRESS_CURVE_BUCKETS}.`, { param: 'buckets' });
        return { batch, points: await batchProgressCurve(database.db, batch.id, buckets) };
      },
    }),
  );

  return { ProgressPointRef, ProgressCurveRef };
}
