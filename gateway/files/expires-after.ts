import { AppError } from '../../core/errors.ts';

/** OpenAI's bounds of an expiration policy: one hour to 30 days. */
export const MIN_EXPIRES_AFTER_SECONDS = 3600;
export const MAX_EXPIRES_AFTER_SECONDS = 30 * 24 * 3600;

/**
 * Reads an expiration policy, `{anchor: "created_at", seconds}` (a file's `expires_after`, a
 * batch's `output_expires_after`), and returns its seconds; null when it is absent. Anything
 * else is a BAD_REQUEST naming the field at fault and what it accepts.
 */
export function parseExpiresAfter(value: unknown, param: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new AppError(
      'BAD_REQUEST',
      `${param} must be an object {"anchor": "created_at", "seconds": N} with N from ${MIN_EXPIRES_AFTER_SECONDS} to ${MAX_EXPIRES_AFTER_SECONDS}.`,
      { param },
    );
  }
  const { anchor, seconds } = value as Record<string, unknown>;
  if (anchor !== 'created_at') {
    throw new AppError(
      'BAD_REQUEST',
      `${param}.anchor must be "created_at" (the only anchor supported), not ${JSON.stringify(anchor ?? null)}.`,
      { param: `${param}.anchor` },
    );
  }
  // A multipart form sends the number as text.
  const n = typeof seconds === 'string' && /^\s*-?\d+\s*$/.test(seconds) ? Number(seconds) : seconds;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < MIN_EXPIRES_AFTER_SECONDS || n > MAX_EXPIRES_AFTER_SECONDS) {
    throw new AppError(
      'BAD_REQUEST',
      `${param}.seconds must be an integer from ${MIN_EXPIRES_AFTER_SECONDS} (1 hour) to ${MAX_EXPIRES_AFTER_SECONDS} (30 days); got ${JSON.stringify(seconds ?? null)}.`,
      { param: `${param}.seconds` },
    );
  }
  return n;
}

/** The deployment's default lifetime of a file in seconds (FILE_RETENTION_DAYS), or null when files are kept. */
export function retentionSeconds(days: number | undefined): number | null {
  return days === undefined ? null : days * 24 * 3600;
}
