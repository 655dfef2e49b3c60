import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { BatchErrorItem } from '../tables/batches.ts';
import { COMPLETED, FAILED, RANGE_SUMS } from './range-sums.ts';

/**
 * Whether the running batch `b` (with {@link RANGE_SUMS} joined) has just gone over its error
 * budget: more failed requests than `max_failed_requests`, or, once `min_requests_for_ratio`
 * requests have finished, a larger share of failures than `max_failure_ratio`; and the budget
 * not yet found exceeded. False for a batch without a budget, whose columns are null: read with
 * the counters a result write returns, it costs such a batch no statement.
 */
export const OVER_BUDGET = sql`(b.status = 'in_progress' and b.budget_exceeded_at is null and (
    (b.max_failed_requests is not null and ${FAILED} > b.max_failed_requests)
    or (b.max_failure_ratio is not null and ${COMPLETED} + ${FAILED} >= b.min_requests_for_ratio
        and ${FAILED} > b.max_failure_ratio * (${COMPLETED} + ${FAILED}))))`;

/**
 * Records that a running batch went over its error budget (`budget_exceeded_at`), checked again
 * by the statement itself; from then on {@link BATCH_STOP} says `failed`: nothing of it is leased,
 * workers abort its streams at their next heartbeat, and the settle ends it `failed`. Returns
 * whether this call recorded it (false when another process did first, or it is not over).
 */
export async function markBudgetExceeded(db: Executor, batchId: string): Promise<boolean> {
  const marked = await rows<{ id: string }>(
    db,
    // The row's own conditions are checked again on the row as another update left it: of two at once, one records it.
    sql`update batches set budget_exceeded_at = now()
        where id = ${batchId} and status = 'in_progress' and budget_exceeded_at is null
          and id in (select b.id from batches b ${RANGE_SUMS} where b.id = ${batchId} and ${OVER_BUDGET})
        returning id`,
  );
  return marked.length > 0;
}

/** How many failure messages {@link tooManyFailures} quotes. */
const QUOTED = 3;

interface FailureGroup {
  /** One of the group's failures: the engine's error body (JSON text), else the error's message. */
  example: string | null;
  fromResponse: boolean;
  statusCode: number | null;
  n: number;
}

interface BudgetState {
  total: number;
  completed: number;
  failed: number;
  maxFailedRequests: number | null;
  maxFailureRatio: number | null;
  minRequestsForRatio: number;
}

/**
 * The one `errors.data` entry of a batch stopped over its error budget (code
 * `too_many_failures`): which budget, the counts, and the commonest failure messages with how
 * many requests failed with each (messages that differ only in numbers, such as token counts,
 * are counted together and quoted by one of them).
 */
export async function tooManyFailures(db: Executor, batchId: string): Promise<BatchErrorItem> {
  const [state] = await rows<BudgetState>(
    db,
    sql`select b.total, ${COMPLETED} as "completed", ${FAILED} as "failed", b.max_failed_requests as "maxFailedRequests",
          b.max_failure_ratio as "maxFailureRatio", b.min_requests_for_ratio as "minRequestsForRatio"
        from batches b ${RANGE_SUMS} where b.id = ${batchId}`,
  );
  // Grouped by Postgres on the text with its digits masked, so that a large batch's failures do not travel.
  const groups = await rows<FailureGroup>(
    db,
    sql`select min(f.text) as "example", bool_or(f.from_response) as "fromResponse", min(f.status_code) as "statusCode", count(*)::int as "n"
        from (select coalesce(x.response, x.error->>'message') as text, x.response is not null as from_response, x.status_code
              from results x where x.batch_id = ${batchId} and x.status = 'failed') f
        group by regexp_replace(coalesce(f.text, ''), '[0-9]+', '#', 'g')
        order by 4 desc, 1
        limit 50`,
  );
  const s = state ?? { total: 0, completed: 0, failed: 0, maxFailedRequests: null, maxFailureRatio: null, minRequestsForRatio: 100 };
  const byCount = (s.maxFailedRequests !== null && s.failed > s.maxFailedRequests) || s.maxFailureRatio === null;
  const finished = s.completed + s.failed;
  const budget = byCount
    ? `more than max_failed_requests (${s.maxFailedRequests})`
    : `more than max_failure_ratio (${s.maxFailureRatio}) of the finished requests, checked from min_requests_for_ratio (${s.minRequestsForRatio})`;
  const unrun = Math.max(0, s.total - finished);
  const quoted = commonest(groups)
    .map((g) => `${g.n} × ${JSON.stringify(g.message)}${g.statusCode === null ? '' : ` (HTTP ${g.statusCode})`}`)
    .join('; ');
  return {
    code: 'too_many_failures',
    message:
      `The batch was stopped: ${s.failed} of its ${finished} finished requests failed, ${budget}. ` +
      `${unrun} requests were not run; they are in the error file with code batch_failed. ` +
      `Commonest failures: ${quoted || 'none recorded'}. Fix the cause, then submit the requests again.`,
    param: byCount ? 'max_failed_requests' : 'max_failure_ratio',
    line: null,
  };
}

/** The {@link QUOTED} commonest messages of the failure groups, merged by message with its digits masked. */
function commonest(groups: readonly FailureGroup[]) {
  const merged = new Map<string, { message: string; statusCode: number | null; n: number }>();
  for (const g of groups) {
    const message = messageOf(g);
    const key = message.replace(/[0-9]+/g, '#');
    const seen = merged.get(key);
    if (seen) seen.n += g.n;
    else merged.set(key, { message, statusCode: g.statusCode, n: g.n });
  }
  return [...merged.values()].sort((a, b) => b.n - a.n).slice(0, QUOTED);
}

/** The message of a failure: the engine's (`error.message`, or `message`, in its error body), else the error's; cut to 300 characters. */
function messageOf({ example, fromResponse }: FailureGroup): string {
  let message = example ?? 'no message was recorded';
  if (fromResponse && example !== null) {
    try {
      const body = JSON.parse(example) as { error?: { message?: unknown } | string; message?: unknown };
      const found = typeof body.error === 'object' ? body.error?.message : (body.error ?? body.message);
      if (typeof found === 'string') message = found;
    } catch {
      // not JSON (a previous release's result): quoted as it is
    }
  }
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}
