// The GraphQL documents the dashboard sends, and the shapes of what they return (schema.graphql).

/** A batch as the lists show it. */
export interface BatchSummary {
  id: string;
  status: string;
  model: string | null;
  endpoint: string;
  priority: number;
  createdAt: string;
  completedAt: string | null;
  failedAt: string | null;
  expiredAt: string | null;
  cancelledAt: string | null;
  queuePosition: number | null;
  estimatedCompletionAt: string | null;
  requestCounts: { total: number; completed: number; failed: number };
}

const SUMMARY =
  'id status model endpoint priority createdAt completedAt failedAt expiredAt cancelledAt queuePosition estimatedCompletionAt requestCounts { total completed failed }';

/** A file of a batch, with the path its content downloads from. */
export interface FileInfo {
  id: string;
  filename: string;
  bytes: number;
  lines: number | null;
  contentPath: string;
}

/** A result handler run of a batch. */
export interface HandlerRun {
  id: string;
  handler: string;
  event: string;
  status: string;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  nextAttemptAt: string | null;
  finishedAt: string | null;
}

const HANDLER_RUN = 'id handler event status attempts maxAttempts lastError nextAttemptAt finishedAt';

/** A batch as its own page shows it. */
export interface BatchDetail extends BatchSummary {
  completionWindow: string;
  inProgressAt: string | null;
  finalizingAt: string | null;
  cancellingAt: string | null;
  /** When its owner paused it; null while it is not paused. */
  pausedAt: string | null;
  expiresAt: string;
  promptTokens: number;
  completionTokens: number;
  metadata: Record<string, string> | null;
  retriedFrom: string | null;
  errors: { line: number | null; code: string; message: string; param: string | null }[];
  inputFile: FileInfo | null;
  outputFile: FileInfo | null;
  errorFile: FileInfo | null;
  handlerRuns: HandlerRun[];
}

const FILE = 'id filename bytes lines contentPath';

/** The active batches: validating, queued or running, finalizing or cancelling. */
export const ACTIVE_BATCHES = `{ batches(status: [validating, in_progress, finalizing, cancelling], first: 100) { nodes { ${SUMMARY} } } }`;

/** A page of batch history, filtered. */
export const HISTORY = `query ($status: [BatchStatus!], $model: String, $after: String) {
  batches(status: $status, model: $model, first: 25, after: $after) { nodes { ${SUMMARY} } pageInfo { endCursor hasNextPage } }
}`;

/** Sums over the history. */
export const STATS =
  '{ batchStats { batches requests succeeded failed successRate promptTokens completionTokens meanDurationSeconds byStatus { status batches } } }';

/** One batch with everything its page shows. */
export const BATCH = `query ($id: ID!) { batch(id: $id) {
  ${SUMMARY} completionWindow inProgressAt finalizingAt cancellingAt pausedAt expiresAt promptTokens completionTokens metadata retriedFrom
  errors { line code message param }
  inputFile { ${FILE} } outputFile { ${FILE} } errorFile { ${FILE} }
  handlerRuns { ${HANDLER_RUN} }
} }`;

/** The fields of a `batchProgress` event. */
export interface Progress {
  batchId: string;
  status: string;
  total: number;
  completed: number;
  failed: number;
  remaining: number;
  tokensPerSecond: number;
  requestsPerSecond: number;
  estimatedSecondsLeft: number | null;
  paused: boolean;
  final: boolean;
}

/** Live progress of one batch. */
export const BATCH_PROGRESS =
  'subscription ($id: ID!) { batchProgress(id: $id) { batchId status total completed failed remaining tokensPerSecond requestsPerSecond estimatedSecondsLeft paused final } }';

/** Every change to the caller's batches. */
export const BATCH_EVENTS = 'subscription { batchEvents { batchId kind status } }';

/** Every change in the fleet. */
export const WORKER_EVENTS = 'subscription { workerEvents { workerId kind } }';

export const CANCEL_BATCH = `mutation ($id: ID!) { cancelBatch(id: $id) { id status } }`;
export const PAUSE_BATCH = `mutation ($id: ID!) { pauseBatch(id: $id) { id pausedAt } }`;
export const RESUME_BATCH = `mutation ($id: ID!) { resumeBatch(id: $id) { id pausedAt } }`;
export const RETRY_BATCH = `mutation ($id: ID!) { retryBatch(id: $id) { id } }`;
export const RETRY_HANDLER_RUN = `mutation ($id: ID!) { retryHandlerRun(id: $id) { ${HANDLER_RUN} } }`;

/** A model of the registry. */
export interface Model {
  name: string;
  source: string;
  enabled: boolean;
  maxConcurrency: number | null;
  engineArgs: string[];
}

/** A worker of the fleet. */
export interface Worker {
  id: string;
  host: string;
  gpu: string;
  pid: number;
  runtime: string;
  model: string | null;
  status: string;
  engineUrl: string;
  capacity: number;
  inFlight: number;
  completed: number;
  failed: number;
  heartbeatAt: string;
  startedAt: string;
  gpuStats: { utilizationPercent: number; memoryUsedMiB: number; memoryTotalMiB: number; temperatureC: number } | null;
  /** The engine's KV-cache use, 0 to 1; null when it does not report it. */
  kvCacheUsage: number | null;
}

export const MODELS = '{ models { name source enabled maxConcurrency engineArgs } workers { id model status } }';
export const WORKERS = `query ($all: Boolean!) { workers(includeStopped: $all) {
  id host gpu pid runtime model status engineUrl capacity inFlight kvCacheUsage completed failed heartbeatAt startedAt
  gpuStats { utilizationPercent memoryUsedMiB memoryTotalMiB temperatureC } } }`;

/** One owner's slice of a model's queue (`share` and `fairShare` from 0 to 1). */
export interface OwnerShare {
  owner: string;
  yours: boolean;
  weight: number;
  queuedLines: number;
  inFlightLines: number;
  share: number | null;
  fairShare: number;
}

/** A model's queue over every owner, and the owners' shares the caller may see (all of them for an administrator, else its own). */
export interface ModelQueue {
  model: string;
  queuedLines: number;
  inFlightLines: number;
  activeOwners: number;
  owners: OwnerShare[];
}

export const QUEUE_SHARES =
  '{ queueShares { model queuedLines inFlightLines activeOwners owners { owner yours weight queuedLines inFlightLines share fairShare } } }';

/** The statuses a result line can have (`ResultStatus`): its result's, or `pending` while it has none. */
export const RESULT_STATUSES = ['succeeded', 'failed', 'cancelled', 'expired', 'pending'] as const;

/** Which lines of a batch the result viewer shows (`ResultFilter`); a field left out does not filter. */
export interface ResultFilter {
  status?: string[];
  gold?: boolean;
  annotated?: boolean;
  minRating?: number;
  label?: string;
  search?: string;
}

/** A reviewer's annotation of a result. */
export interface Annotation {
  gold: boolean | null;
  rating: number | null;
  correction: string | null;
  labels: string[] | null;
  note: string | null;
  annotator: string;
  source: string;
  updatedAt: string;
}

/** One line of a batch: its request, what came back, its metadata and its annotation. */
export interface Result {
  line: number;
  customId: string;
  status: string;
  /** The input line's body (untrusted: shown as text only). */
  request: unknown;
  /** The engine's response body (untrusted: shown as text only). */
  response: unknown;
  error: { code: string; message: string } | null;
  tokens: { prompt: number | null; completion: number | null; total: number | null } | null;
  durationMs: number | null;
  metadata: Record<string, unknown> | null;
  annotation: Annotation | null;
}

/** The fields of an annotation change: a field left out is unchanged, `null` clears it. */
export type AnnotationPatch = Partial<Pick<Annotation, 'gold' | 'rating' | 'correction' | 'labels' | 'note'>>;

const RESULT = `line customId status request response error { code message } tokens { prompt completion total } durationMs metadata
  annotation { gold rating correction labels note annotator source updatedAt }`;

/** A page of a batch's results. */
export interface ResultPage {
  totalCount: number;
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
  edges: { cursor: string; node: Result }[];
}

/** A page of a batch's results, filtered, with how many the filter keeps. */
export const RESULTS = `query ($id: ID!, $first: Int!, $after: String, $filter: ResultFilter) { batch(id: $id) {
  results(first: $first, after: $after, filter: $filter) { totalCount pageInfo { endCursor hasNextPage } edges { cursor node { ${RESULT} } } }
} }`;

/** Annotates one result from the dashboard; answers the result as it is now. */
export const ANNOTATE_RESULT = `mutation ($input: AnnotateResultInput!) { annotateResult(input: $input) { ${RESULT} } }`;

/** Every annotation change of a batch's results, by anyone, as the result is after it. */
export const RESULT_ANNOTATIONS = `subscription ($batchId: ID!) { resultAnnotations(batchId: $batchId) { ${RESULT} } }`;

/** Writes a batch's gold results as an OpenAI chat fine-tuning file. */
export const EXPORT_DATASET = `mutation ($batchId: ID!) { exportDataset(input: { batchIds: [$batchId], format: OPENAI_CHAT }) { ${FILE} } }`;
