import type { ModelCounters } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';

/** Adds the `ModelStats` type (counters of the batches of one model); returns its ref. */
export function defineModelStats(builder: Builder) {
  return builder.objectRef<ModelCounters>('ModelStats').implement({
    description: 'The batches of one model summed up.',
    fields: (t) => ({
      model: t.exposeString('model', { nullable: true, description: 'null for batches that mix models.' }),
      batches: t.exposeInt('batches'),
      requests: t.exposeFloat('requests'),
      succeeded: t.exposeFloat('succeeded'),
      failed: t.exposeFloat('failed'),
      successRate: t.exposeFloat('successRate', { nullable: true }),
      promptTokens: t.exposeFloat('promptTokens'),
      completionTokens: t.exposeFloat('completionTokens'),
      meanDurationSeconds: t.exposeFloat('meanDurationSeconds', { nullable: true }),
    }),
  });
}
