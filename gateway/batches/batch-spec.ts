import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import { parseExpiresAfter } from '../files/expires-after.ts';

/** The endpoints a batch may target. */
export const SUPPORTED_ENDPOINTS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses'] as const;

/** The longest completion window accepted (OpenAI accepts only `24h`; longer ones are an extension). */
export const MAX_COMPLETION_WINDOW_HOURS = 24 * 14;

const metadata = z
  .record(
    z.string().max(64, { error: 'metadata keys are at most 64 characters' }),
    z
      .string({ error: 'metadata values are strings of at most 512 characters' })
      .max(512, { error: 'metadata values are strings of at most 512 characters' }),
    { error: 'metadata must be an object of at most 16 pairs of strings' },
  )
  .refine((value) => Object.keys(value).length <= 16, { error: 'metadata holds at most 16 pairs' })
  // Stored as jsonb, which cannot hold NUL.
  .refine((value) => !Object.entries(value).some(([k, v]) => k.includes('\u0000') || v.includes('\u0000')), {
    error: 'metadata keys and values cannot contain NUL characters (\\u0000)',
  })
  // Nor an unpaired UTF-16 surrogate.
  .refine((value) => Object.entries(value).every(([k, v]) => k.isWellFormed() && v.isWellFormed()), {
    error: 'metadata keys and values cannot hold an unpaired surrogate escape (such as \\ud800); use valid Unicode',
  });

/** `; got <the value>`, for an error message, when a value was given. */
const given = (issue: { input?: unknown }) => (issue.input === undefined ? '' : `; got ${JSON.stringify(issue.input)}`);

/** The priorities a batch may have: higher runs first. */
export const MIN_PRIORITY = -1000;
export const MAX_PRIORITY = 1000;

function priorityError(issue: { input?: unknown }): string {
  return `priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY} (higher runs first; leave it out for the default, 0)${given(issue)}`;
}

/** The largest count an error budget may name (a Postgres integer). */
export const MAX_BUDGET_COUNT = 2_147_483_647;

/** The `min_requests_for_ratio` of a batch that gives `max_failure_ratio` alone. */
export const DEFAULT_MIN_REQUESTS_FOR_RATIO = 100;

const count = (name: string, min: number, what: string) => {
  const error = (issue: { input?: unknown }) => `${name} must be a whole number from ${min} to ${MAX_BUDGET_COUNT}: ${what}${given(issue)}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(MAX_BUDGET_COUNT, { error });
};

function ratioError(issue: { input?: unknown }): string {
  return `max_failure_ratio must be a number from 0 to 1: the batch stops once a larger share of its finished requests has failed (0.1 = 10%)${given(issue)}`;
}

/**
 * The error budget of a batch (all three optional, an extension): it stops and ends `failed` once
 * more requests have failed than `maxFailedRequests`, or, once `minRequestsForRatio` requests have
 * finished, a larger share of them than `maxFailureRatio`.
 */
const budget = {
  maxFailedRequests: count(
    'max_failed_requests',
    0,
    'the batch stops once more requests than this have failed (leave it out for no limit)',
  ).nullish(),
  maxFailureRatio: z.number({ error: ratioError }).min(0, { error: ratioError }).max(1, { error: ratioError }).nullish(),
  minRequestsForRatio: count(
    'min_requests_for_ratio',
    1,
    `how many requests must have finished before max_failure_ratio is checked (default ${DEFAULT_MIN_REQUESTS_FOR_RATIO})`,
  ).nullish(),
};

/** A batch to create, validated the same way whether it came through REST or GraphQL. */
const batchFields = z.object({
  inputFileId: z.string({ error: 'input_file_id is required: the id of an uploaded file with purpose "batch"' }).min(1),
  endpoint: z.enum(SUPPORTED_ENDPOINTS, { error: `endpoint must be one of ${SUPPORTED_ENDPOINTS.join(', ')}` }),
  completionWindow: z
    .string({ error: 'completion_window is required, e.g. "24h"' })
    .regex(/^[1-9][0-9]*h$/, { error: 'completion_window must be a number of hours such as "24h"' })
    .refine((w) => Number.parseInt(w, 10) <= MAX_COMPLETION_WINDOW_HOURS, {
      error: `completion_window is at most ${MAX_COMPLETION_WINDOW_HOURS}h`,
    }),
  metadata: metadata.nullish().transform((value) => value ?? null),
  /** Higher runs first; an extension. */
  priority: z
    .number({ error: priorityError })
    .int({ error: priorityError })
    .min(MIN_PRIORITY, { error: priorityError })
    .max(MAX_PRIORITY, { error: priorityError })
    .default(0),
  /** `{anchor: "created_at", seconds}`: how long the output and error files live; checked by {@link parseExpiresAfter}. */
  outputExpiresAfter: z.unknown().optional(),
  ...budget,
});

/** {@link batchFields}, with the budget's fields checked together and their defaults (null = no limit). */
export const batchSpec = batchFields
  .refine((b) => b.minRequestsForRatio == null || b.maxFailureRatio != null, {
    error: 'min_requests_for_ratio applies only with max_failure_ratio: give max_failure_ratio too, or leave min_requests_for_ratio out',
    path: ['minRequestsForRatio'],
  })
  .transform(({ maxFailedRequests, maxFailureRatio, minRequestsForRatio, ...rest }) => ({
    ...rest,
    maxFailedRequests: maxFailedRequests ?? null,
    maxFailureRatio: maxFailureRatio ?? null,
    minRequestsForRatio: minRequestsForRatio ?? DEFAULT_MIN_REQUESTS_FOR_RATIO,
  }));

/** A validated batch to create; `outputExpiresAfter` in seconds, null when not given. */
export type BatchSpec = Omit<z.infer<typeof batchSpec>, 'outputExpiresAfter'> & { outputExpiresAfter: number | null };

/**
 * Validates a batch to create; a problem becomes a BAD_REQUEST naming the parameter (its field
 * as `paramName` spells it, then a metadata key as the caller wrote it: `metadata.myKey`).
 */
export function parseBatchSpec(input: unknown, paramName: (field: string) => string = (f) => f): BatchSpec {
  const result = batchSpec.safeParse(input);
  if (result.success)
    return { ...result.data, outputExpiresAfter: parseExpiresAfter(result.data.outputExpiresAfter, paramName('outputExpiresAfter')) };
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String);
  let message = issue.message;
  if (issue.code === 'invalid_key') {
    // A metadata key that is too long: zod says only "Invalid key in record". The key is named
    // in the message; `param` is `metadata`, the key being no parameter of its own.
    const key = path.pop() ?? '';
    message = `${issue.issues[0]?.message ?? issue.message}; ${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}...` : key)} has ${key.length}`;
  }
  const [field, ...rest] = path;
  throw new AppError('BAD_REQUEST', message, { param: field === undefined ? null : [paramName(field), ...rest].join('.') });
}

/** The seconds of a completion window such as `24h`. */
export function windowSeconds(completionWindow: string): number {
  return Number.parseInt(completionWindow, 10) * 3600;
}
