/** The batch events a handler can be run for: the final statuses of a batch. */
export const BATCH_EVENTS = ['completed', 'failed', 'expired', 'cancelled'] as const;

/** A final status of a batch, the event a handler run was created for. */
export type BatchEvent = (typeof BATCH_EVENTS)[number];

/**
 * Every event a handler can run for: a batch's final status, or a change of the annotation
 * of one of its results. A handler that declares no `events` runs for BATCH_EVENTS only;
 * `result.annotated` must be asked for.
 */
export const HANDLER_EVENTS = [...BATCH_EVENTS, 'result.annotated'] as const;

/** An event a handler run was created for. */
export type HandlerEvent = (typeof HANDLER_EVENTS)[number];

/** Where an annotation came from. */
export type HandlerAnnotationSource = 'api' | 'dashboard' | 'label-studio';

/**
 * A result's annotation as one change left it (`context.annotation` of a `result.annotated`
 * run). A field nobody set, or that was cleared, is null; `gold: null` means not starred.
 */
export interface HandlerAnnotation {
  batchId: string;
  customId: string;
  /** The result's line in the input file, from 1. */
  line: number;
  gold: boolean | null;
  /** 1 to 5. */
  rating: number | null;
  /** The answer as it should have been. */
  correction: string | null;
  labels: string[] | null;
  note: string | null;
  /** The API key's owner, or the Label Studio user. */
  annotator: string;
  source: HandlerAnnotationSource;
  /** ISO 8601. */
  updatedAt: string;
}

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

/**
 * One line of the batch's output or error file, parsed (OpenAI's batch output line), with the
 * request it answers and the metadata earlier handlers attached to it.
 */
export interface HandlerResult {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: unknown } | null;
  error: { code: string; message: string } | null;
  /** The input line's `body` (the request as sent: messages, parameters), or null once the batch's data was purged. */
  request: unknown;
  /** What handlers attached with `setResultMetadata` (merged key by key), or null. */
  metadata: Record<string, unknown> | null;
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
  /**
   * The handler run's key: `<batch id>:<handler>` for a batch's final status,
   * `<batch id>:<handler>:annotation:<seq>` for an annotation change. Stable across attempts
   * and unique beyond this database (use it as an idempotency key).
   */
  runId: string;
  /** What created this run: the batch's final status, or `result.annotated`. */
  event: HandlerEvent;
  /** For `result.annotated`: the annotation as the change left it; otherwise null. */
  annotation: HandlerAnnotation | null;
  /** For `result.annotated`: the annotated result, with its request and metadata; otherwise null. */
  result: HandlerResult | null;
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
  /**
   * Attaches metadata (a JSON object) to a result of this batch, merged key by key into what
   * it has (a key set to null is removed). Handlers that run after this one (`after`) see it
   * in `HandlerResult.metadata`; `Batch.results` shows it and exports can filter on it.
   * Throws a permanent HandlerError for an unknown custom_id.
   */
  setResultMetadata(customId: string, metadata: Record<string, unknown>): Promise<void>;
}
