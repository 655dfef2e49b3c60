import { HandlerError } from './errors.ts';

/** Whether an HTTP status means "try again later": 408, 425, 429 and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** The delay a response's `Retry-After` header asks for, in milliseconds, if any. */
export function retryAfterMs(response: Response, now = Date.now()): number | undefined {
  const value = response.headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The {@link HandlerError} for a failed HTTP response: retryable for 408/425/429/5xx (with
 * the Retry-After delay), permanent for any other 4xx. Reads at most 500 characters of the
 * body into the message.
 */
export async function httpError(response: Response, what: string): Promise<HandlerError> {
  const text = await response.text().catch(() => '');
  const detail = text ? `: ${text.slice(0, 500)}` : '';
  return new HandlerError(`${what} answered ${response.status} ${response.statusText}${detail}`, {
    retryable: isRetryableStatus(response.status),
    retryAfterMs: retryAfterMs(response),
  });
}
