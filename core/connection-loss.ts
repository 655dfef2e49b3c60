import type { Logger } from './logger.ts';

/** Socket errors of a connection that went away (the database restarting, a network cut): the next query reconnects. */
const CONNECTION_LOSS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

/** Whether an error is a lost or refused connection (its `code`, or its cause's). */
export function isConnectionLoss(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_LOSS.has(code)) return true;
  }
  return false;
}

/**
 * Keeps a long-running process (gateway, worker) up when a lost database connection surfaces as
 * an unhandled rejection: postgres.js (3.4) rejects its first query on a new connection (the
 * array types it fetches, `select b.oid, b.typarray from pg_catalog.pg_type ...`) with nobody
 * listening when the connection is cut under it, and Bun and Node end the process on an
 * unhandled rejection. Such a rejection is logged as a warning; every request's own query has
 * already failed in its own way (a 503), and the next one reconnects. Any other unhandled
 * rejection is still fatal, as without this: logged as an error, exit code 1.
 */
export function surviveConnectionLoss(logger: Logger): void {
  process.on('unhandledRejection', (reason: unknown) => {
    if (isConnectionLoss(reason)) {
      logger.warn('a database connection was lost outside any query that waited for it; the next query reconnects', { err: reason });
      return;
    }
    logger.error('unhandled rejection; the process stops', { err: reason });
    process.exit(1);
  });
}
