import type { MiddlewareHandler } from 'hono';
import { AppError } from '../../core/errors.ts';
import { takeRateToken, type Executor } from '../../schema/index.ts';

/** Options for {@link createRateLimit}. */
export interface RateLimitOptions {
  db: Executor;
  /** API_REQUESTS_PER_MINUTE: the limit of owners without their own; undefined = none. */
  defaultRequestsPerMinute?: number | undefined;
  /** The response for a refused request, in the shape the route's clients expect (OpenAI's, GraphQL's). */
  refused: (error: AppError) => Response;
}

/** The 429 of an API request over the owner's rate, in the words of OpenAI's requests-per-minute limit. */
export function rateLimitError(owner: string, requestsPerMinute: number, retryAfterSeconds: number): AppError {
  return new AppError(
    'RATE_LIMITED',
    `Rate limit reached for ${owner} on requests per minute (RPM): Limit ${requestsPerMinute}. Please try again in ${retryAfterSeconds}s (Retry-After), or ask an administrator to raise the limit (setOwnerLimits).`,
    { reason: 'rate_limit_exceeded' },
  );
}

/**
 * Takes a token of the owner's API token bucket (in Postgres, shared by every replica) for
 * each request, after authentication has set `owner`. Responses carry OpenAI's
 * `x-ratelimit-limit-requests` and `x-ratelimit-remaining-requests`; an empty bucket is a 429
 * with `Retry-After`, the whole seconds until the bucket holds a token again.
 */
export function createRateLimit({
  db,
  defaultRequestsPerMinute,
  refused,
}: RateLimitOptions): MiddlewareHandler<{ Variables: { owner: string } }> {
  return async function limitRequestRate(c, next) {
    const owner = c.get('owner');
    const outcome = await takeRateToken(db, owner, defaultRequestsPerMinute ?? null);
    if (outcome.kind === 'unlimited') return next();
    const limitHeaders = {
      'x-ratelimit-limit-requests': String(outcome.requestsPerMinute),
      'x-ratelimit-remaining-requests': String(outcome.kind === 'taken' ? Math.floor(outcome.tokensLeft) : 0),
    };
    if (outcome.kind === 'refused') {
      const response = refused(rateLimitError(owner, outcome.requestsPerMinute, outcome.retryAfterSeconds));
      response.headers.set('retry-after', String(outcome.retryAfterSeconds));
      for (const [name, value] of Object.entries(limitHeaders)) response.headers.set(name, value);
      return response;
    }
    await next();
    try {
      for (const [name, value] of Object.entries(limitHeaders)) c.res.headers.set(name, value);
    } catch {
      // A response whose headers are immutable: it goes out without the counts.
    }
  };
}
