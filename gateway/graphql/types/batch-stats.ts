import { batchStats, type BatchStats } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';
import type { defineModelStats } from './model-stats.ts';
import type { defineStatusCount } from './status-count.ts';

/** The refs `BatchStats` points to. */
export interface BatchStatsRefs {
  StatusCount: ReturnType<typeof defineStatusCount>;
  ModelStats: ReturnType<typeof defineModelStats>;
}

/** Adds the `BatchStats` type and `Query.batchStats`; returns the type's ref. */
export function defineBatchStats(builder: Builder, refs: BatchStatsRefs) {
  const BatchStatsRef = builder.objectRef<BatchStats>('BatchStats').implement({
    description: 'Your batch history summed up, from the batch counters.',
    fields: (t) => ({
      batches: t.exposeInt('batches'),
      requests: t.exposeFloat('requests'),
      succeeded: t.exposeFloat('succeeded'),
      failed: t.exposeFloat('failed'),
      successRate: t.exposeFloat('successRate', {
        nullable: true,
        description: 'succeeded / (succeeded + failed); null before any request finished.',
      }),
      promptTokens: t.exposeFloat('promptTokens'),
      completionTokens: t.exposeFloat('completionTokens'),
      meanDurationSeconds: t.exposeFloat('meanDurationSeconds', {
        nullable: true,
        description: 'Mean time from creation to completion of completed batches.',
      }),
      byStatus: t.field({ type: [refs.StatusCount], resolve: (stats) => stats.byStatus }),
      byModel: t.field({ type: [refs.ModelStats], resolve: (stats) => stats.byModel }),
    }),
  });

  builder.queryField('batchStats', (t) =>
    t.field({
      type: BatchStatsRef,
      description: 'Counts by status and model, success rate, tokens and mean duration of your batches.',
      args: { since: t.arg({ type: 'DateTime', description: 'Only batches created since then.' }) },
      resolve: (_root, { since }, { database, owner }) => batchStats(database.db, owner, since ? since.getTime() : undefined),
    }),
  );

  return BatchStatsRef;
}
