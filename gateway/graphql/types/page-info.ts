import type { Builder } from '../builder.ts';

/** Where a page of a connection ends. */
export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

/** Adds the `PageInfo` type of cursor connections; returns its ref. */
export function definePageInfo(builder: Builder) {
  return builder.objectRef<PageInfo>('PageInfo').implement({
    description: 'Whether more items follow, and the cursor to ask for them with (`after`).',
    fields: (t) => ({
      hasNextPage: t.exposeBoolean('hasNextPage'),
      endCursor: t.exposeString('endCursor', { nullable: true }),
    }),
  });
}
