import { AppError } from '../../../core/errors.ts';
import { listAnnotationRuns, listHandlerRuns, type BatchRow, type HandlerRunRow } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import type { defineBatch } from './batch.ts';
import type { defineHandlerRun } from './handler-run.ts';

/** The refs `Batch.handlerRuns` and `Batch.annotationRuns` join. */
export interface BatchHandlerRunsRefs {
  Batch: ReturnType<typeof defineBatch>;
  HandlerRun: ReturnType<typeof defineHandlerRun>['HandlerRun'];
  HandlerRunStatus: ReturnType<typeof defineHandlerRun>['HandlerRunStatus'];
}

/** The most runs of annotation changes one `Batch.annotationRuns` returns. */
const MAX_ANNOTATION_RUNS = 500;

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

/** Adds `Batch.handlerRuns` and `Batch.annotationRuns`. */
export function defineBatchHandlerRuns(builder: Builder, refs: BatchHandlerRunsRefs): void {
  builder.objectField(refs.Batch, 'handlerRuns', (t) =>
    t.field({
      type: [refs.HandlerRun],
      description:
        'The result handler runs of the batch, one per handler it asked for; created when it reaches its final status. The runs for annotation changes are in `annotationRuns`.',
      resolve: (batch: BatchRow, _args, context) => loaderOf(context)(batch.id),
    }),
  );
  builder.objectField(refs.Batch, 'annotationRuns', (t) =>
    t.field({
      type: [refs.HandlerRun],
      description:
        "The handler runs for changes of the annotations of the batch's results (result.annotated, one per change and handler that takes it), the newest change first.",
      args: {
        first: t.arg.int({ defaultValue: 100, description: `How many runs (1 to ${MAX_ANNOTATION_RUNS}).` }),
        status: t.arg({ type: [refs.HandlerRunStatus], required: false, description: 'Only runs in these statuses.' }),
      },
      resolve: (batch: BatchRow, { first, status }, { database }) => {
        const limit = first ?? 100;
        if (!Number.isInteger(limit) || limit < 1 || limit > MAX_ANNOTATION_RUNS) {
          throw new AppError('BAD_REQUEST', `first must be between 1 and ${MAX_ANNOTATION_RUNS}; got ${limit}.`, { param: 'first' });
        }
        return listAnnotationRuns(database.db, { batchId: batch.id, limit, statuses: status ?? undefined });
      },
    }),
  );
}
