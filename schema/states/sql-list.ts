import { type SQL, sql } from 'drizzle-orm';

/**
 * A parenthesized list of string literals for `in (...)`, from a state machine's constants
 * (never user input): literals rather than parameters, so that a statement's text names its
 * statuses as the partial indexes do, and a CHECK constraint can be written from it.
 */
export const sqlList = (values: readonly string[]): SQL => sql.raw(`(${values.map((v) => `'${v.replaceAll("'", "''")}'`).join(', ')})`);
