import type { HandlerResult, ResultsOptions } from '../../handlers/sdk/index.ts';
import { streamResultLines, type Executor, type ResultKind } from '../../schema/index.ts';

/**
 * A batch's results as handlers read them: the lines of the output file, then of the
 * error file, parsed, read from Postgres a page at a time (keyset pagination on the line
 * number), so memory holds one page whatever the batch's size.
 */
export async function* streamResults(
  db: Executor,
  batchId: string,
  { only }: ResultsOptions = {},
  pageSize = 500,
): AsyncGenerator<HandlerResult> {
  const kinds: ResultKind[] = only ? [only] : ['output', 'error'];
  for (const kind of kinds) {
    for await (const line of streamResultLines(db, batchId, kind, pageSize)) yield JSON.parse(line) as HandlerResult;
  }
}
