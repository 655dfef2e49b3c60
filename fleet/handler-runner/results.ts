import type { HandlerResult, ResultsOptions } from '../../handlers/sdk/index.ts';
import { handlerResultsPage, type Executor, type HandlerResultRow, type ResultKind } from '../../schema/index.ts';

/** A result row as handlers receive it: the file's line parsed, with its request and metadata. */
export function toHandlerResult(row: HandlerResultRow): HandlerResult {
  return {
    ...(JSON.parse(row.text) as Omit<HandlerResult, 'request' | 'metadata'>),
    // Purged bodies are '' (the input file expired or was deleted).
    request: row.request === '' ? null : (JSON.parse(row.request) as unknown),
    metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as Record<string, unknown>),
  };
}

/**
 * A batch's results as handlers read them: the lines of the output file, then of the
 * error file, parsed, each with its request and metadata, read from Postgres a page at a
 * time (keyset pagination on the line number), so memory holds one page whatever the
 * batch's size.
 */
export async function* streamResults(
  db: Executor,
  batchId: string,
  { only }: ResultsOptions = {},
  pageSize = 500,
): AsyncGenerator<HandlerResult> {
  const kinds: ResultKind[] = only ? [only] : ['output', 'error'];
  for (const kind of kinds) {
    let after = 0;
    for (;;) {
      const page = await handlerResultsPage(db, batchId, kind, after, pageSize);
      for (const row of page) yield toHandlerResult(row);
      const last = page.at(-1);
      if (!last || page.length < pageSize) break;
      after = last.line;
    }
  }
}
