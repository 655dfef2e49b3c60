/**
 * The statuses of a batch, as OpenAI names them (in the order of OpenAI's documentation, which
 * the GraphQL enum keeps): the one declaration of the batch state machine, with
 * {@link BATCH_TRANSITIONS}. The database holds `batches.status` to these (a CHECK).
 */
export const BATCH_STATUSES = [
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
] as const;

/** The status of a batch, as in OpenAI's Batch object. */
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/**
 * Where each status may go: `validating → in_progress → finalizing → completed`, or `failed`
 * (invalid input, or, from `in_progress`, over its error budget), `expired` (past the completion
 * window), `cancelling → cancelled`. A status with nowhere to go is terminal. (A retry creates its
 * batch `in_progress` straight away.)
 */
export const BATCH_TRANSITIONS = {
  validating: ['in_progress', 'failed', 'cancelling'],
  failed: [],
  in_progress: ['finalizing', 'failed', 'expired', 'cancelling'],
  finalizing: ['completed'],
  completed: [],
  expired: [],
  cancelling: ['cancelled'],
  cancelled: [],
} as const satisfies Record<BatchStatus, readonly BatchStatus[]>;

type Transitions = typeof BATCH_TRANSITIONS;

/** The statuses a batch never leaves. */
export type TerminalBatchStatus = { [S in BatchStatus]: Transitions[S] extends readonly [] ? S : never }[BatchStatus];

/** The statuses a batch may reach `to` from. */
export type StatusBefore<To extends BatchStatus> = { [S in BatchStatus]: To extends Transitions[S][number] ? S : never }[BatchStatus];

/** Whether a status is terminal. */
export const isTerminalBatchStatus = (status: BatchStatus): status is TerminalBatchStatus => BATCH_TRANSITIONS[status].length === 0;

/** The statuses a batch never leaves: completed, failed, expired, cancelled. */
export const TERMINAL_BATCH_STATUSES: readonly TerminalBatchStatus[] = BATCH_STATUSES.filter(isTerminalBatchStatus);

/** The statuses a batch may reach `to` from, in {@link BATCH_STATUSES} order. */
export const batchStatusesBefore = <To extends BatchStatus>(to: To): StatusBefore<To>[] =>
  BATCH_STATUSES.filter((s): s is StatusBefore<To> => (BATCH_TRANSITIONS[s] as readonly BatchStatus[]).includes(to));

/**
 * The final statuses a batch reaches through finalization (result files, handler runs), each
 * from the one status it is taken from: `failed` when the batch ran over its error budget (a
 * batch whose input was invalid fails from `validating`, without result files).
 */
export const FINALIZED_FROM = {
  completed: 'finalizing',
  failed: 'in_progress',
  expired: 'in_progress',
  cancelled: 'cancelling',
} as const satisfies { [S in TerminalBatchStatus]?: StatusBefore<S> };

/** The final statuses reached through finalization: completed, failed (error budget), expired, cancelled. */
export type FinalStatus = keyof typeof FINALIZED_FROM;

/**
 * Whether a batch status is one reached through finalization (it may have result files): also
 * true of `failed`, which a batch whose input was invalid reaches without them.
 */
export const isFinalStatus = (status: BatchStatus): status is FinalStatus => Object.hasOwn(FINALIZED_FROM, status);

/**
 * How far along its lifecycle each status is: the most steps it takes from `validating`, every
 * terminal status ranking last. Status events from several publishers may arrive out of order;
 * a batch's status never goes back to a lower rank.
 */
export const BATCH_STATUS_RANK: Readonly<Record<BatchStatus, number>> = rankStatuses();

function rankStatuses(): Record<BatchStatus, number> {
  const rank = Object.fromEntries(BATCH_STATUSES.map((s) => [s, 0])) as Record<BatchStatus, number>;
  // The machine has no cycle: a pass per status settles every longest path.
  for (const _ of BATCH_STATUSES) {
    for (const from of BATCH_STATUSES) for (const to of BATCH_TRANSITIONS[from]) rank[to] = Math.max(rank[to], rank[from] + 1);
  }
  const last = Math.max(...Object.values(rank));
  for (const s of TERMINAL_BATCH_STATUSES) rank[s] = last;
  return rank;
}

/** A status change of a batch, for the caller to publish (`from` is null when the batch was just created). */
export interface BatchStatusChange {
  batchId: string;
  owner: string;
  from: BatchStatus | null;
  to: BatchStatus;
}
