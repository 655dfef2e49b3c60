/** The states of a request without a result: waiting in an open range, or in one a worker holds. */
export const OPEN_REQUEST_STATES = ['queued', 'leased'] as const;

/**
 * The states of a request with a result (`results.status`): `succeeded` lines make the output
 * file, the others the error file; a stopping batch gives its unrun lines `cancelled` or `expired`.
 */
export const FINISHED_REQUEST_STATES = ['succeeded', 'failed', 'cancelled', 'expired'] as const;

/**
 * Every state of a request, as the view `request_states` derives it from the request's range
 * and result (and as the previous release stored it in `requests.status`): queued → leased →
 * succeeded or failed, or cancelled or expired by its batch. The one declaration of the request
 * state machine; the database holds `requests.status` and `results.status` to it (CHECKs).
 */
export const REQUEST_STATES = [...OPEN_REQUEST_STATES, ...FINISHED_REQUEST_STATES] as const;

/** The state of a request. */
export type RequestState = (typeof REQUEST_STATES)[number];

/** The state of a request with a result. */
export type FinishedRequestState = (typeof FINISHED_REQUEST_STATES)[number];

/** The state a stopping batch gives the lines it ends without running them. */
export type StoppedRequestState = Extract<FinishedRequestState, 'cancelled' | 'expired'>;
