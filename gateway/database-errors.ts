import { AppError } from '../core/errors.ts';
import { errorCodes } from '../schema/index.ts';

/** Postgres' codes for a character it cannot store: NUL in text (22021) and `\u0000` in jsonb (22P05). */
const UNSTORABLE = new Set(['22021', '22P05']);

/**
 * Codes of a database that cannot be reached or is going away: socket errors, postgres.js's
 * own connection codes, SQLSTATE class 08 (connection exception) and 57P01-57P03 (shutdown,
 * crash, starting up).
 */
const UNREACHABLE = /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|CONNECTION_(CLOSED|ENDED|DESTROYED)|CONNECT_TIMEOUT|08\w{3}|57P0[123])$/;

/**
 * The client's error behind a database error, or null for any other error:
 * - a NUL character in what the client sent (an id, a filename, metadata): Postgres cannot
 *   store NUL in text, so such a value can only be refused (400);
 * - the database unreachable (restarting, down): 503, so clients retry, instead of a 500.
 * Drivers wrap the Postgres error (drizzle's `cause`), so the chain is followed.
 */
export function databaseClientError(error: unknown): AppError | null {
  for (const code of errorCodes(error)) {
    if (UNSTORABLE.has(code)) {
      return new AppError(
        'BAD_REQUEST',
        'A text value of the request contains a NUL character (\\u0000), which cannot be stored; remove it and send the request again.',
        { cause: error },
      );
    }
    if (UNREACHABLE.test(code)) {
      return new AppError('UNAVAILABLE', 'The database cannot be reached right now; try again in a few seconds.', { cause: error });
    }
  }
  return null;
}
