import { AppError } from '../core/errors.ts';

/** Postgres' codes for a character it cannot store: NUL in text (22021) and `\u0000` in jsonb (22P05). */
const UNSTORABLE = new Set(['22021', '22P05']);

/**
 * The client's error behind a database error caused by a NUL character in what the client
 * sent (an id, a filename, a query parameter, metadata): Postgres cannot store NUL in text,
 * so such a value can only be refused. Null for any other error. Drivers wrap the Postgres
 * error (drizzle's `cause`), so the chain is followed.
 */
export function nulCharacterError(error: unknown): AppError | null {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && UNSTORABLE.has(code)) {
      return new AppError('BAD_REQUEST', 'A text value of the request contains a NUL character (\\u0000), which cannot be stored; remove it and send the request again.', { cause: error });
    }
    current = (current as { cause?: unknown }).cause;
  }
  return null;
}
