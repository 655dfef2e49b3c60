import type { BatchRow } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';

/** Adds the `RequestCounts` type (read from a batch row); returns its ref. */
export function defineRequestCounts(builder: Builder) {
  return builder.objectRef<BatchRow>('RequestCounts').implement({
    description: 'How many requests a batch has, and how many finished.',
    fields: (t) => ({
      total: t.exposeInt('total'),
      completed: t.exposeInt('completed', { description: 'Answered by the engine successfully (in the output file).' }),
      failed: t.exposeInt('failed', {
        description:
          'Ended with an error: refused by the engine (4xx) or out of retries. Requests cancelled or expired are counted in neither field, as in OpenAI.',
      }),
    }),
  });
}
