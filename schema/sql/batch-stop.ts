import { sql } from 'drizzle-orm';
import type { BatchStatus } from '../states/batch-status.ts';
import type { StoppedRequestState } from '../states/request-state.ts';
import { sqlList } from '../states/sql-list.ts';

/** A cancel's statuses: the batch being cancelled, and cancelled. */
const CANCEL_STATUSES = ['cancelling', 'cancelled'] as const satisfies readonly BatchStatus[];
const EXPIRED_STATUSES = ['expired'] as const satisfies readonly BatchStatus[];

/** Why a batch is stopping: the final status it stops in. */
export type BatchStop = 'cancelled' | 'failed' | 'expired';

/**
 * Whether the batch `b` is stopping, and why: `'cancelled'` when it is cancelling (or
 * cancelled), `'failed'` when its error budget was found exceeded, `'expired'` when it expired or
 * is past its completion window, else null (also when `b` is missing, as in a left join). The
 * status it ends in; the one test shared by the heartbeat, the stop, the return of leases and
 * the settle.
 */
export const BATCH_STOP = sql`(case when b.status in ${sqlList(CANCEL_STATUSES)} then 'cancelled'
  when b.budget_exceeded_at is not null then 'failed'
  when b.status in ${sqlList(EXPIRED_STATUSES)} or b.expires_at < now() then 'expired' end)`;

/**
 * The state and error a stopping batch gives each line it ends without running it, as the error
 * file shows them. A batch over its error budget ends its unrun lines `cancelled` (code
 * `batch_failed`): like cancelled and expired lines, they are not counted in `request_counts.failed`,
 * which keeps the failures that used up the budget.
 */
export const STOPPED_LINES: Record<BatchStop, { state: StoppedRequestState; error: { code: string; message: string } }> = {
  expired: {
    state: 'expired',
    error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' },
  },
  cancelled: {
    state: 'cancelled',
    error: { code: 'batch_cancelled', message: 'The batch was cancelled before this request was executed.' },
  },
  failed: {
    state: 'cancelled',
    error: {
      code: 'batch_failed',
      message: 'The batch failed (more of its requests failed than its error budget allows) before this request was executed.',
    },
  },
};

/** The state a stopping batch's unrun lines end in ({@link STOPPED_LINES}), or null: {@link BATCH_STOP} as a request state. */
export const BATCH_STOP_LINE_STATE = sql`(case ${BATCH_STOP} when 'failed' then ${sql.raw(`'${STOPPED_LINES.failed.state}'`)} else ${BATCH_STOP} end)`;
