import { sql } from 'drizzle-orm';
import type { StoppedRequestState } from '../states/request-state.ts';

/**
 * Whether the batch `b` is stopping, and why: `'cancelled'` when it is cancelling (or
 * cancelled), `'expired'` when it expired or is past its completion window, else null (also
 * when `b` is missing, as in a left join). The state its unrun lines end in; the one test shared
 * by the heartbeat, the stop, the return of leases and the settle.
 */
export const BATCH_STOP = sql`(case when b.status in ('cancelling', 'cancelled') then 'cancelled'
  when b.status = 'expired' or b.expires_at < now() then 'expired' end)`;

/** The error of a line its stopping batch ended without running it, as the error file shows it. */
export const STOP_ERRORS: Record<StoppedRequestState, { code: string; message: string }> = {
  expired: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' },
  cancelled: { code: 'batch_cancelled', message: 'The batch was cancelled before this request was executed.' },
};
