import { AppError } from '../../../core/errors.ts';
import { listBatches, type BatchRow } from '../../../schema/index.ts';
import { checkBatchCursor } from '../../cursors.ts';
import type { Builder } from '../builder.ts';
import type { defineBatch } from './batch.ts';
import type { defineBatchEdge } from './batch-edge.ts';
import type { defineBatchStatus } from './batch-status.ts';
import type { definePageInfo, PageInfo } from './page-info.ts';

/** The most batches one page holds. */
export const MAX_BATCH_PAGE = 100;

/** The refs `BatchConnection` points to. */
export interface BatchConnectionRefs {
  Batch: ReturnType<typeof defineBatch>;
  BatchEdge: ReturnType<typeof defineBatchEdge>;
  BatchStatus: ReturnType<typeof defineBatchStatus>;
  PageInfo: ReturnType<typeof definePageInfo>;
}

interface BatchPage {
  batches: BatchRow[];
  pageInfo: PageInfo;
}

/** Adds the `BatchConnection` type and `Query.batches` (newest first, cursor pagination, filters); returns the type's ref. */
export function defineBatchConnection(builder: Builder, refs: BatchConnectionRefs) {
  const BatchConnectionRef = builder.objectRef<BatchPage>('BatchConnection').implement({
    description: 'A page of batches, newest first.',
    fields: (t) => ({
      edges: t.field({ type: [refs.BatchEdge], resolve: (page) => page.batches }),
      nodes: t.field({ type: [refs.Batch], resolve: (page) => page.batches }),
      pageInfo: t.field({ type: refs.PageInfo, resolve: (page) => page.pageInfo }),
    }),
  });

  builder.queryField('batches', (t) =>
    t.field({
      type: BatchConnectionRef,
      description: 'Your batches, newest first.',
      args: {
        first: t.arg.int({ defaultValue: 20, required: true, description: `Batches per page, at most ${MAX_BATCH_PAGE}.` }),
        after: t.arg.string({ description: 'The endCursor of the previous page.' }),
        status: t.arg({ type: [refs.BatchStatus], description: 'Only batches in one of these statuses.' }),
        model: t.arg.string({ description: 'Only batches with requests for this model.' }),
      },
      resolve: async (_root, args, { database, owner }) => {
        if (args.first < 1 || args.first > MAX_BATCH_PAGE) {
          throw new AppError('BAD_REQUEST', `first must be from 1 to ${MAX_BATCH_PAGE}.`, { param: 'first' });
        }
        await checkBatchCursor(database, owner, args.after, 'endCursor');
        const page = await listBatches(database.db, {
          owner,
          limit: args.first,
          after: args.after ?? undefined,
          statuses: args.status ?? undefined,
          model: args.model ?? undefined,
        });
        return { batches: page.data, pageInfo: { hasNextPage: page.hasMore, endCursor: page.data.at(-1)?.id ?? null } };
      },
    }),
  );

  return BatchConnectionRef;
}
