import type { BatchRow } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';
import type { defineBatch } from './batch.ts';

/** Adds the `BatchEdge` type (a batch and its cursor); returns its ref. */
export function defineBatchEdge(builder: Builder, Batch: ReturnType<typeof defineBatch>) {
  return builder.objectRef<BatchRow>('BatchEdge').implement({
    description: 'A batch in a page of batches.',
    fields: (t) => ({
      cursor: t.string({ description: 'Pass as `after` to list the batches that follow this one.', resolve: (batch) => batch.id }),
      node: t.field({ type: Batch, resolve: (batch) => batch }),
    }),
  });
}
