import { AppError } from '../../../core/errors.ts';
import { fleetHistory, type FleetPoint, type FleetSeries } from '../../../schema/sql/fleet-history.ts';
import { FLEET_SAMPLE_SECONDS } from '../../../schema/sql/sample-fleet.ts';
import type { Builder } from '../builder.ts';

/** The longest history `fleetHistory` reads: the samples are kept for a day. */
export const MAX_FLEET_HISTORY_MINUTES = 24 * 60;

/** Adds the `FleetPoint` and `ModelSeries` types and `Query.fleetHistory`; returns the types' refs. */
export function defineFleetHistory(builder: Builder) {
  const FleetPointRef = builder.objectRef<FleetPoint>('FleetPoint').implement({
    description: `One sample of a model (every ${FLEET_SAMPLE_SECONDS} seconds): the rates since the sample before it, and the queue then.`,
    fields: (t) => ({
      at: t.field({ type: 'DateTime', description: "The start of the sample's slot.", resolve: (point) => new Date(point.atMs) }),
      requestsPerSecond: t.exposeFloat('requestsPerSecond', {
        nullable: true,
        description: 'Requests finished (succeeded or failed) per second since the sample before; null without one shortly before.',
      }),
      failedPerSecond: t.exposeFloat('failedPerSecond', { nullable: true, description: 'Of those, failed per second.' }),
      tokensPerSecond: t.exposeFloat('tokensPerSecond', {
        nullable: true,
        description: 'Prompt and completion tokens per second (as batchProgress counts them).',
      }),
      completionTokensPerSecond: t.exposeFloat('completionTokensPerSecond', {
        nullable: true,
        description: 'Generated tokens per second.',
      }),
      queued: t.exposeFloat('queued', { description: 'Requests waiting for a worker (leasable, not leased) at the sample.' }),
    }),
  });

  const ModelSeriesRef = builder.objectRef<FleetSeries>('ModelSeries').implement({
    description: "A model's throughput and queue over time.",
    fields: (t) => ({
      model: t.exposeString('model'),
      points: t.field({ type: [FleetPointRef], description: 'Oldest first.', resolve: (series) => series.points }),
    }),
  });

  builder.queryField('fleetHistory', (t) =>
    t.field({
      type: [ModelSeriesRef],
      description: `The fleet's throughput and queue depth per model over the last minutes, by model name: sampled by the gateways every ${FLEET_SAMPLE_SECONDS} seconds while a model has work (or had within the hour), kept for a day.`,
      args: { minutes: t.arg.int({ required: true, defaultValue: 60, description: `How far back, 1 to ${MAX_FLEET_HISTORY_MINUTES}.` }) },
      resolve: (_root, { minutes }, { database }) => {
        if (minutes < 1 || minutes > MAX_FLEET_HISTORY_MINUTES)
          throw new AppError('BAD_REQUEST', `minutes must be from 1 to ${MAX_FLEET_HISTORY_MINUTES} (samples are kept for a day).`, {
            param: 'minutes',
          });
        return fleetHistory(database.db, { minutes });
      },
    }),
  );

  return { FleetPointRef, ModelSeriesRef };
}
