import { RESULT_VIEW_STATUSES, readResultsPage, type Database, type ResultView, type ResultViewStatus } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';
import type { defineAnnotation } from './annotation.ts';

/** A JSON text as a value; null when empty (a purged request) or not JSON. */
function parsed(text: string | null): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** One line of a batch as `Result` shows it, or undefined when the batch has no such line. */
export async function readResult(database: Database, batchId: string, line: number): Promise<ResultView | undefined> {
  const [found] = await readResultsPage(database.db, batchId, {}, line - 1, 1);
  return found?.line === line ? found : undefined;
}

const STATUS_DESCRIPTIONS: Record<ResultViewStatus, string> = {
  succeeded: 'The engine answered; the line is in the output file.',
  failed: 'It failed after its retries; the line is in the error file.',
  cancelled: 'The batch was cancelled before it ran.',
  expired: 'The completion window ran out before it ran.',
  pending: 'No result yet: queued or running.',
};

/** Adds the `ResultStatus` enum, the `ResultError`, `ResultTokens` and `Result` types; returns their refs. */
export function defineResult(builder: Builder, { Annotation }: Pick<ReturnType<typeof defineAnnotation>, 'Annotation'>) {
  const ResultStatusRef = builder.enumType('ResultStatus', {
    description: 'Where one request of a batch is: finished (as its line in the output or error file says), or pending.',
    values: Object.fromEntries(
      RESULT_VIEW_STATUSES.map((status) => [status, { value: status, description: STATUS_DESCRIPTIONS[status] }]),
    ) as Record<ResultViewStatus, { value: ResultViewStatus; description: string }>,
  });

  const ResultErrorRef = builder.objectRef<{ code: string; message: string }>('ResultError').implement({
    description: 'Why a request did not succeed, as its line in the error file says.',
    fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
  });

  const ResultTokensRef = builder.objectRef<ResultView>('ResultTokens').implement({
    description: 'The tokens the engine counted for one request.',
    fields: (t) => ({
      prompt: t.exposeInt('promptTokens', { nullable: true }),
      completion: t.exposeInt('completionTokens', { nullable: true }),
      total: t.int({
        nullable: true,
        resolve: (r) => (r.promptTokens === null && r.completionTokens === null ? null : (r.promptTokens ?? 0) + (r.completionTokens ?? 0)),
      }),
    }),
  });

  const ResultRef = builder.objectRef<ResultView>('Result').implement({
    description: 'One line of a batch: its request, its result once it has one, what handlers attached to it, and its annotation.',
    fields: (t) => ({
      line: t.exposeInt('line', { description: 'The 1-based line of the input file.' }),
      customId: t.exposeString('customId'),
      status: t.expose('status', { type: ResultStatusRef }),
      request: t.field({
        type: 'JSON',
        nullable: true,
        description: "The input line's body (null once the batch's request data was purged).",
        resolve: (r) => parsed(r.body),
      }),
      response: t.field({
        type: 'JSON',
        nullable: true,
        description: "The engine's response body; null while pending and when the request got no answer.",
        resolve: (r) => parsed(r.response),
      }),
      error: t.field({ type: ResultErrorRef, nullable: true, resolve: (r) => r.error }),
      tokens: t.field({
        type: ResultTokensRef,
        nullable: true,
        description: 'Null while pending.',
        resolve: (r) => (r.status === 'pending' ? null : r),
      }),
      durationMs: t.exposeInt('durationMs', { nullable: true, description: 'From the start of its last attempt to its result.' }),
      metadata: t.field({
        type: 'JSON',
        nullable: true,
        description: 'What handlers attached to the result (context.setResultMetadata): one JSON object, or null.',
        resolve: (r) => r.metadata,
      }),
      annotation: t.field({
        type: Annotation,
        nullable: true,
        description: 'Null until it is first annotated.',
        resolve: (r) => r.annotation,
      }),
    }),
  });

  return { Result: ResultRef, ResultStatus: ResultStatusRef };
}
