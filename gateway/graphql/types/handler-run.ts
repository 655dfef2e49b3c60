import { AppError } from '../../../core/errors.ts';
import type { HandlerRegistry } from '../../../handlers/sdk/index.ts';
import {
  HANDLER_RUN_STATUSES,
  HANDLER_RUNS_CHANNEL,
  handlerRunWaits,
  retryHandlerRun,
  type HandlerRunRow,
  type HandlerRunStatus,
} from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';

const at = (ms: number | null) => (ms === null ? null : new Date(ms));

/** Adds `HandlerRun`, `HandlerRunStatus` and `Mutation.retryHandlerRun`; returns the type's ref (and the status enum's). */
export function defineHandlerRun(builder: Builder, registry: HandlerRegistry) {
  const Status = builder.enumType('HandlerRunStatus', {
    description:
      "queued → running → succeeded; a failed attempt goes back to queued (with backoff) until the attempts are used up (dead). skipped: the handler does not run for the batch's event.",
    values: Object.fromEntries(HANDLER_RUN_STATUSES.map((s) => [s, { value: s }])) as Record<HandlerRunStatus, { value: HandlerRunStatus }>,
  });

  const HandlerRunRef = builder.objectRef<HandlerRunRow>('HandlerRun').implement({
    description:
      "One result handler run: created with the batch's final status, or with a change of one of its results' annotations (result.annotated); retried with backoff, ended succeeded, skipped or dead.",
    fields: (t) => ({
      id: t.id({ resolve: (run) => String(run.id) }),
      batchId: t.exposeID('batchId'),
      handler: t.exposeString('handler', { description: "The handler's name." }),
      event: t.exposeString('event', {
        description:
          "What created the run: the batch's final status (completed, failed, expired or cancelled), or result.annotated for a change of a result's annotation.",
      }),
      line: t.exposeInt('line', {
        nullable: true,
        description: 'For result.annotated: the line of the annotated result in the input file (from 1); otherwise null.',
      }),
      annotation: t.field({
        type: 'JSON',
        nullable: true,
        description:
          'For result.annotated: the annotation as this change left it, as the handler receives it in context.annotation (batchId, customId, line, gold, rating, correction, labels, note, annotator, source, updatedAt); otherwise null.',
        resolve: (run) => run.annotation,
      }),
      waitingFor: t.string({
        nullable: true,
        description:
          'Why a queued run does not start although it may be due: the unfinished run of an earlier change of the same result (changes of one result run in order), or of a handler this one runs after (`after`; a dead one holds it until retried). Null when it waits for nothing.',
        resolve: (run, _args, { database }) =>
          run.status === 'queued' ? handlerRunWaits(database.db, { id: run.id, after: registry.after }) : null,
      }),
      status: t.field({ type: Status, resolve: (run) => run.status }),
      attempts: t.exposeInt('attempts', { description: 'Attempts made so far.' }),
      maxAttempts: t.exposeInt('maxAttempts'),
      nextAttemptAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When a queued run is tried next.',
        resolve: (run) => (run.status === 'queued' ? at(run.nextAttemptAtMs) : null),
      }),
      lastError: t.exposeString('lastError', { nullable: true, description: 'The error of the last failed attempt.' }),
      result: t.field({
        type: 'JSON',
        nullable: true,
        description: 'What the handler reported on success, or why the run was skipped.',
        resolve: (run) => run.result,
      }),
      createdAt: t.field({ type: 'DateTime', resolve: (run) => new Date(run.createdAtMs) }),
      updatedAt: t.field({ type: 'DateTime', resolve: (run) => new Date(run.updatedAtMs) }),
      finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (run) => at(run.finishedAtMs) }),
    }),
  });

  builder.mutationField('retryHandlerRun', (t) =>
    t.field({
      type: HandlerRunRef,
      description:
        "Re-queues a dead handler run with a fresh set of attempts; the handler resumes from its last checkpoint. Refused (CONFLICT) once its batch's results were purged with its expired or deleted result files.",
      args: { id: t.arg.id({ required: true }) },
      resolve: async (_root, { id }, { database, owner }) => {
        const runId = Number(id);
        const found = Number.isSafeInteger(runId) ? await retryHandlerRun(database.db, { id: runId, owner }) : undefined;
        if (!found) throw new AppError('NOT_FOUND', `No handler run with id ${String(id)} among your batches.`, { param: 'id' });
        if (!found.requeued && !(found.run.status === 'dead' && found.resultsPurged)) {
          throw new AppError('CONFLICT', `Handler run ${runId} is ${found.run.status}; only a dead run can be retried.`, { param: 'id' });
        }
        if (!found.requeued) {
          throw new AppError(
            'CONFLICT',
            `Handler run ${runId} can no longer be retried: its batch's output and error files expired or were deleted, and with them the stored results it would read. Run the requests again in a new batch.`,
            { param: 'id' },
          );
        }
        await database.notify(HANDLER_RUNS_CHANNEL, String(runId));
        return found.run;
      },
    }),
  );
  return { HandlerRun: HandlerRunRef, HandlerRunStatus: Status };
}
