import { listHandlerRuns, type BatchRow, type HandlerRunRow } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import type { defineBatch } from './batch.ts';
import type { defineHandlerRun } from './handler-run.ts';

/** The refs `Batch.handlerRuns` joins. */
export interface BatchHandlerRunsRefs {
  Batch: ReturnType<typeof defineBatch>;
  HandlerRun: ReturnType<typeof defineHandlerRun>;
}

type Loader = (batchId: string) => Promise<HandlerRunRow[]>;
const loaders = new WeakMap<GraphQLContext, Loader>();

/** One query for the runs of every batch of a response (a page of 100 batches is one query, not 100). */
function loaderOf(context: GraphQLContext): Loader {
  let loader = loaders.get(context);
  if (loader) return loader;
  let pending: Map<string, ((runs: HandlerRunRow[]) => void)[]> | undefined;
  let failed: ((error: unknown) => void)[] = [];
  loader = (batchId) =>
    new Promise((resolve, reject) => {
      if (!pending) {
        pending = new Map();
        failed = [];
        // Resolvers of sibling list items run in the same turn; flush after them.
        setTimeout(() => {
          const batch = pending!;
          const rejects = failed;
          pending = undefined;
          listHandlerRuns(context.database.db, [...batch.keys()]).then(
            (runs) => {
              for (const [id, waiters] of batch) for (const w of waiters) w(runs.filter((r) => r.batchId === id));
            },
            (error) => {
              for (const r of rejects) r(error);
            },
          );
        }, 0);
      }
      pending.set(batchId, [...(pending.get(batchId) ?? []), resolve]);
      failed.push(reject);
    });
  loaders.set(context, loader);
  return loader;
}

/** Adds `Batch.handlerRuns`. */
export function defineBatchHandlerRuns(builder: Builder, refs: BatchHandlerRunsRefs): void {
  builder.objectField(refs.Batch, 'handlerRuns', (t) =>
    t.field({
      type: [refs.HandlerRun],
      description: 'The result handler runs of the batch, one per handler it asked for; created when it reaches its final status.',
      resolve: (batch: BatchRow, _args, context) => loaderOf(context)(batch.id),
    }),
  );
}
