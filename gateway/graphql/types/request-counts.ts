import type { BatchRow } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';

/** Adds the `RequestCounts` type (read from a batch row); returns its ref. */
export function defineRequestCounts(builder: Builder) {
  return builder.objectRef<BatchRow>('RequestCounts').implement({
    description: 'How many requests a batch has, and how many finished.',
    fields: (t) => ({
      total: t.exposeInt('total'),
      completed: t.exposeInt('completed', { description: 'Finished with a response.' }),
      failed: t.exposeInt('failed', { description: 'Finished with an error (including cancelled and expired ones).' }),
    }),
  });
}
