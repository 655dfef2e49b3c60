import { AppError } from '../../../core/errors.ts';
import type { ResultLine } from '../../subscriptions/results-hub.ts';
import type { Builder } from '../builder.ts';
import { readResult, type defineResult } from './result.ts';

/** A line the subscription sends, with the batch it belongs to (for its `result`). */
type BatchResultLine = ResultLine & { batchId: string };

/** Adds `Subscription.batchResults(batchId, fromLine)` and its `BatchResultLine` type. */
export function defineBatchResults(builder: Builder, { Result }: Pick<ReturnType<typeof defineResult>, 'Result'>): void {
  const BatchResultLineRef = builder.objectRef<BatchResultLine>('BatchResultLine').implement({
    description: "One finished request of a batch, as the batch's output or error file holds it.",
    fields: (t) => ({
      line: t.exposeInt('line', {
        description: 'The 1-based line of the input file: subscribe again with fromLine = line + 1 to go on after it.',
      }),
      customId: t.exposeString('customId', { description: 'The custom_id of the request.' }),
      status: t.exposeString('status', { description: "The request's state: succeeded, failed, cancelled or expired." }),
      file: t.exposeString('file', {
        description: '`output` (succeeded) or `error` (failed, cancelled, expired): the result file that holds this line.',
      }),
      outputLine: t.exposeString('outputLine', {
        description:
          'The exact JSON line (without its newline) the output or error file holds for this request, in the OpenAI batch result format.',
      }),
      result: t.field({
        type: Result,
        description:
          'The line as Batch.results shows it: its request, response, tokens, metadata and annotation. Read from the database for ' +
          'each line sent (outputLine is not): select it when you need the request or the annotation beside the answer.',
        resolve: async ({ batchId, line }, _args, { database }) => {
          const result = await readResult(database, batchId, line);
          if (!result) throw new AppError('NOT_FOUND', `Line ${line} of batch ${batchId} is gone.`, { param: 'batchId' });
          return result;
        },
      }),
    }),
  });

  builder.subscriptionField('batchResults', (t) =>
    t.field({
      type: BatchResultLineRef,
      description:
        "A batch's results in input order from line fromLine: those already written at once, then each as workers write it " +
        '(a line is sent only after every line before it), completing after the last line once the batch has ended. ' +
        'A client that lost the stream subscribes again with fromLine = the last line it received + 1.',
      args: {
        batchId: t.arg.id({ required: true }),
        fromLine: t.arg.int({
          defaultValue: 0,
          description: 'The first input line to send (lines are numbered from 1; 0 means from the start).',
        }),
      },
      subscribe: (_root, { batchId, fromLine }, { results, owner }) => results.watch(String(batchId), owner, fromLine ?? 0),
      resolve: (line, { batchId }) => ({ ...line, batchId: String(batchId) }),
    }),
  );
}
