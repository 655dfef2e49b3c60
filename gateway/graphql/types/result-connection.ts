import { AppError } from '../../../core/errors.ts';
import { countResults, readResultsPage, type BatchRow, type ResultFilter, type ResultView } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';
import type { defineBatch } from './batch.ts';
import type { definePageInfo, PageInfo } from './page-info.ts';
import type { defineResult } from './result.ts';

/** The most results one page holds. */
export const MAX_RESULT_PAGE = 500;

/** An opaque cursor for the line a page ended on (web-standard base64: the gateway runs on Node, Bun and Deno). */
export const resultCursor = (line: number) => btoa(`line:${line}`).replace(/=+$/, '');

const decoded = (cursor: string) => {
  try {
    return atob(cursor);
  } catch {
    return '';
  }
};

function lineOfCursor(after: string | null | undefined): number {
  if (after === null || after === undefined || after === '') return 0;
  const match = /^line:(\d{1,9})$/.exec(decoded(after));
  if (!match) {
    throw new AppError(
      'BAD_REQUEST',
      'after must be a cursor of this connection (endCursor or an edge cursor); leave it out to start from line 1.',
      {
        param: 'after',
      },
    );
  }
  return Number(match[1]);
}

function checkFilter(filter: ResultFilter): void {
  if (filter.minRating != null && (filter.minRating < 1 || filter.minRating > 5)) {
    throw new AppError('BAD_REQUEST', `filter.minRating must be from 1 to 5, not ${filter.minRating}.`, { param: 'filter.minRating' });
  }
}

/** The refs the results connection points to. */
export interface ResultConnectionRefs extends Pick<ReturnType<typeof defineResult>, 'Result' | 'ResultStatus'> {
  Batch: ReturnType<typeof defineBatch>;
  PageInfo: ReturnType<typeof definePageInfo>;
}

interface ResultPage {
  results: ResultView[];
  pageInfo: PageInfo;
  /** Counted only when asked for: it reads every line of the batch the filter keeps. */
  count(): Promise<number>;
}

/** Adds the `ResultFilter` input, the `ResultEdge` and `ResultConnection` types, and `Batch.results`. */
export function defineResultConnection(builder: Builder, refs: ResultConnectionRefs) {
  const ResultFilterRef = builder.inputType('ResultFilter', {
    description: 'Which lines of a batch to show; every field given must hold.',
    fields: (t) => ({
      status: t.field({ type: [refs.ResultStatus], description: 'Lines in any of these statuses (pending: no result yet).' }),
      gold: t.boolean({ description: 'true: starred gold; false: not starred (unannotated lines included).' }),
      annotated: t.boolean({ description: 'true: lines with an annotation that has any field set; false: the others.' }),
      minRating: t.int({ description: 'Rated at least this (1–5); unrated lines are left out.' }),
      label: t.string({ description: "The annotation's labels include this one (exact match)." }),
      search: t.string({
        description: 'Case-insensitive text in the request body (the prompt), the response body (the answer) or the correction.',
      }),
    }),
  });

  const ResultEdgeRef = builder.objectRef<ResultView>('ResultEdge').implement({
    fields: (t) => ({
      cursor: t.string({ resolve: (result) => resultCursor(result.line) }),
      node: t.field({ type: refs.Result, resolve: (result) => result }),
    }),
  });

  const ResultConnectionRef = builder.objectRef<ResultPage>('ResultConnection').implement({
    description: "A page of a batch's results, in line order.",
    fields: (t) => ({
      edges: t.field({ type: [ResultEdgeRef], resolve: (page) => page.results }),
      pageInfo: t.field({ type: refs.PageInfo, resolve: (page) => page.pageInfo }),
      totalCount: t.int({ description: 'How many lines of the batch the filter keeps (all pages).', resolve: (page) => page.count() }),
    }),
  });

  builder.objectField(refs.Batch, 'results', (t) =>
    t.field({
      type: ResultConnectionRef,
      description:
        "The batch's lines in input order with their requests, results, metadata and annotations; pending lines included unless filtered out.",
      args: {
        first: t.arg.int({ defaultValue: 50, description: `Results per page, at most ${MAX_RESULT_PAGE}.` }),
        after: t.arg.string({ description: 'The endCursor of the previous page.' }),
        filter: t.arg({ type: ResultFilterRef }),
      },
      resolve: async (batch: BatchRow, args, { database }): Promise<ResultPage> => {
        const first = args.first ?? 50;
        if (first < 1 || first > MAX_RESULT_PAGE) {
          throw new AppError('BAD_REQUEST', `first must be from 1 to ${MAX_RESULT_PAGE}, not ${first}.`, { param: 'first' });
        }
        const filter: ResultFilter = args.filter ?? {};
        checkFilter(filter);
        const found = await readResultsPage(database.db, batch.id, filter, lineOfCursor(args.after), first + 1);
        const results = found.slice(0, first);
        const last = results.at(-1);
        return {
          results,
          pageInfo: { hasNextPage: found.length > first, endCursor: last ? resultCursor(last.line) : null },
          count: () => countResults(database.db, batch.id, filter),
        };
      },
    }),
  );
}
