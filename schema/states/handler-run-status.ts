/**
 * The statuses of a handler run: queued → running → succeeded; a failed attempt goes back to
 * queued (with backoff) until the attempts are used up (dead, which a retry queues again);
 * skipped when the handler does not run for the batch's event. The one declaration of the
 * handler-run state machine; the database holds `handler_runs.status` to it (a CHECK).
 */
export const HANDLER_RUN_STATUSES = ['queued', 'running', 'succeeded', 'skipped', 'dead'] as const;

/** The status of a handler run. */
export type HandlerRunStatus = (typeof HANDLER_RUN_STATUSES)[number];

/** The statuses of a run that will still run: its batch's data must be kept for it. */
export const PENDING_HANDLER_RUN_STATUSES = ['queued', 'running'] as const satisfies readonly HandlerRunStatus[];
