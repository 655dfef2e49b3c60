import { AppError } from '../core/errors.ts';
import { getBatch, isFileCursor, type Database } from '../schema/index.ts';

/** What ids look like (`batch_…`, `file-…`): anything else cannot be a cursor, and is not sent to the database. */
const ID_SHAPE = /^[A-Za-z0-9_-]{1,200}$/;

const badCursor = (after: string, what: 'batches' | 'files', source: string) =>
  new AppError(
    'BAD_REQUEST',
    `after must be the id of one of your ${what} (the ${source} of the previous page); ${JSON.stringify(after.slice(0, 100))} is not. Leave it out to start from the first page.`,
    { param: 'after' },
  );

/**
 * Checks a pagination cursor before a page is listed: an id that is not one of the caller's
 * batches would otherwise list nothing, which reads as "no more batches" rather than as a mistake.
 */
export async function checkBatchCursor(
  database: Database,
  owner: string,
  after: string | null | undefined,
  source = 'last_id',
): Promise<void> {
  if (after === undefined || after === null || after === '') return;
  if (!ID_SHAPE.test(after) || !(await getBatch(database.db, after, owner))) throw badCursor(after, 'batches', source);
}

/** Checks a file-list cursor the same way as {@link checkBatchCursor}; a file the caller deleted since still continues the list. */
export async function checkFileCursor(database: Database, owner: string, after: string | null | undefined): Promise<void> {
  if (after === undefined || after === null || after === '') return;
  if (!ID_SHAPE.test(after) || !(await isFileCursor(database.db, after, owner))) throw badCursor(after, 'files', 'last_id');
}
