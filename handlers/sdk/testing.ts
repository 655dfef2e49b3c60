import type { z } from 'zod';
import type { HandlerAnnotation, HandlerBatch, HandlerContext, HandlerEvent, HandlerLogger, HandlerResult } from './context.ts';
import type { AnyHandler, HandlerDefinition } from './define-handler.ts';
import { destinationGuard, ANY_DESTINATION, type DestinationPolicy, type LookupAll } from './destinations.ts';
import { HandlerOptionsError } from './errors.ts';
import { checkIssues, validate } from './options.ts';

/** Options of {@link createTestContext}. */
export interface TestContextOptions {
  /** Per-batch options, validated as the gateway would. */
  options?: unknown;
  /** Deployment options, validated as a manifest would. */
  deployment?: unknown;
  /** The results, produced anew on every `results()` call. */
  results?: () => Iterable<HandlerResult> | AsyncIterable<HandlerResult>;
  batch?: Partial<HandlerBatch>;
  event?: HandlerEvent;
  /** For a `result.annotated` context: the annotation and the annotated result. */
  annotation?: HandlerAnnotation;
  result?: HandlerResult;
  attempt?: number;
  maxAttempts?: number;
  checkpoint?: unknown;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** Which destinations the context's `fetch` and `checkDestination` allow; default: every one. */
  destinations?: DestinationPolicy;
  /** Resolves host names for those checks (default: the system's resolver). */
  lookup?: LookupAll;
  logger?: HandlerLogger;
}

/** The context type a handler's `handle` receives. */
type ContextOf<H> = H extends HandlerDefinition<infer O, infer D> ? HandlerContext<z.output<O>, z.output<D>> : HandlerContext;

const SILENT: HandlerLogger = { debug() {}, info() {}, warn() {}, error() {}, child: () => SILENT };

/** What a test context collected: saved checkpoints, and metadata set per custom_id (merged as the server merges it). */
interface Collected {
  saved: unknown[];
  metadata: Map<string, Record<string, unknown>>;
}

/**
 * A handler context for tests of a handler module, without a database: the options are
 * validated with the handler's schemas, saved checkpoints are collected in `saved` and
 * result metadata in `metadata`.
 */
export function createTestContext<H extends AnyHandler>(handler: H, opts: TestContextOptions = {}): ContextOf<H> & Collected {
  const deployment = validate((handler.deploymentOptions ?? handler.options.pick({})).strict(), opts.deployment ?? {}, 'deployment');
  if (!deployment.ok) throw new HandlerOptionsError(deployment.issues);
  const options = validate(handler.options.strict(), opts.options ?? {}, `handlers.${handler.name}`);
  if (!options.ok) throw new HandlerOptionsError(options.issues);
  const issues = checkIssues(handler.check?.(options.value, deployment.value), `handlers.${handler.name}`);
  if (issues.length) throw new HandlerOptionsError(issues);
  const saved: unknown[] = [];
  const metadata = new Map<string, Record<string, unknown>>();
  const guard = destinationGuard(opts.destinations ?? ANY_DESTINATION, deployment.value, opts.fetch ?? fetch, opts.lookup);

  const batchId = opts.batch?.id ?? 'batch_test';
  const event = opts.event ?? (opts.annotation ? 'result.annotated' : 'completed');
  const context: HandlerContext & Collected = {
    runId: opts.annotation ? `${batchId}:${handler.name}:annotation:1` : `${batchId}:${handler.name}`,
    event,
    annotation: opts.annotation ?? null,
    result: opts.result ?? null,
    batch: { ...testBatch(batchId), ...opts.batch },
    options: options.value,
    deployment: deployment.value,
    async *results(filter = {}) {
      for await (const result of opts.results?.() ?? []) {
        const isError = result.error !== null;
        if (filter.only === 'output' && isError) continue;
        if (filter.only === 'error' && !isError) continue;
        yield result;
      }
    },
    logger: opts.logger ?? SILENT,
    signal: opts.signal ?? new AbortController().signal,
    fetch: guard.fetch,
    checkDestination: guard.checkDestination,
    attempt: opts.attempt ?? 1,
    maxAttempts: opts.maxAttempts ?? 5,
    checkpoint: opts.checkpoint ?? null,
    saved,
    async saveCheckpoint(value) {
      saved.push(structuredClone(value));
    },
    metadata,
    async setResultMetadata(customId, value) {
      const merged: Record<string, unknown> = { ...metadata.get(customId), ...structuredClone(value) };
      for (const [key, v] of Object.entries(merged)) if (v === null) delete merged[key];
      metadata.set(customId, merged);
    },
  };
  // The options were validated by the handler's own schemas above, so they have its types.
  return context as ContextOf<H> & Collected;
}

function testBatch(id: string): HandlerBatch {
  const created = Math.floor(Date.now() / 1000);
  return {
    id,
    object: 'batch',
    owner: 'local',
    endpoint: '/v1/chat/completions',
    model: 'sim-model',
    errors: null,
    input_file_id: 'file-input',
    completion_window: '24h',
    status: 'completed',
    output_file_id: 'file-output',
    error_file_id: 'file-error',
    created_at: created,
    in_progress_at: created,
    expires_at: created + 86_400,
    finalizing_at: created,
    completed_at: created,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    request_counts: { total: 0, completed: 0, failed: 0 },
    usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
    metadata: null,
  };
}
