/** The batch events a handler can be run for: the final statuses of a batch. */
export const BATCH_EVENTS = ['completed', 'failed', 'expired', 'cancelled'] as const;

/** A final status of a batch, the event a handler run was created for. */
export type BatchEvent = (typeof BATCH_EVENTS)[number];

/** The OpenAI Batch object, as `GET /v1/batches/{id}` returns it, plus its owner. */
export interface HandlerBatch {
  id: string;
  object: 'batch';
  owner: string;
  endpoint: string;
  model: string | null;
  errors: { object: 'list'; data: { code: string; message: string; param: string | null; line: number | null }[] } | null;
  input_file_id: string;
  completion_window: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number | null;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  usage: { input_tokens: number; output_tokens: number; total_tokens: number };
  metadata: Record<string, string> | null;
}

/** One line of the batch's output or error file, parsed: OpenAI's batch output line. */
export interface HandlerResult {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: unknown } | null;
  error: { code: string; message: string } | null;
}

/** Which results to read: both files (output first, then errors), or one of them. */
export interface ResultsOptions {
  only?: 'output' | 'error';
}

/** A structured logger, the same shape as the server's. */
export interface HandlerLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): HandlerLogger;
}

/** What a handler's `handle` receives for one run (one batch, one attempt). */
export interface HandlerContext<Options = unknown, Deployment = unknown> {
  /** The handler run's key, `<batch id>:<handler>`: stable across attempts and unique beyond this database (use it as an idempotency key). */
  runId: string;
  /** The final status that created this run. */
  event: BatchEvent;
  batch: HandlerBatch;
  /** The batch's options for this handler, validated. */
  options: Options;
  /** The deployment options from the manifest, validated. */
  deployment: Deployment;
  /**
   * The batch's results, streamed from the database page by page in line order: never
   * the whole file in memory. Each call starts again from the first line.
   */
  results(options?: ResultsOptions): AsyncIterable<HandlerResult>;
  logger: HandlerLogger;
  /** Aborted when the run must stop (the process shuts down, or the run's lease was lost). */
  signal: AbortSignal;
  /** fetch, refusing destinations the deployment does not let batches send to (see {@link HandlerContext.checkDestination}), redirects included. */
  fetch: typeof fetch;
  /**
   * Throws a permanent HandlerError when the deployment does not let batches send to
   * `url`'s host (a loopback, private or link-local address, unless allowed). `fetch` checks
   * by itself; call this before any other connection to an address from the batch's options.
   */
  checkDestination(url: string | URL): Promise<void>;
  /** 1 on the first attempt. */
  attempt: number;
  maxAttempts: number;
  /** What the previous attempt saved with `saveCheckpoint`, or null: lets a retry resume instead of redoing work. */
  checkpoint: unknown;
  /** Saves progress (any JSON value) so that a retry, even after a crash, resumes from it. */
  saveCheckpoint(value: unknown): Promise<void>;
}
