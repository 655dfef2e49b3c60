export * from './tables/index.ts';
export * from './states/index.ts';
export {
  createDatabase,
  errorCodes,
  rows,
  type CopyTransaction,
  type Database,
  type DatabaseOptions,
  type Db,
  type Executor,
} from './db.ts';
export { copyText } from './copy-text.ts';
export { runMigrations, MIGRATIONS_FOLDER } from './migrate.ts';
export { newId } from './ids.ts';
export * from './sql/lease-requests.ts';
export * from './sql/unsettled-batches.ts';
export * from './sql/set-worker-status.ts';
export * from './sql/complete-requests.ts';
export * from './sql/copy-results.ts';
export * from './sql/heartbeat-leases.ts';
export * from './sql/stop-requests.ts';
export * from './sql/returned-leases.ts';
export * from './sql/reap-leases.ts';
export * from './sql/release-requests.ts';
export * from './sql/register-worker.ts';
export * from './sql/heartbeat-worker.ts';
export * from './sql/mark-lost-workers.ts';
export * from './sql/workers-on-gpu.ts';
export * from './sql/model-demand.ts';
export * from './sql/batch-endpoints.ts';
export * from './sql/output-lines.ts';
export * from './sql/handler-result-rows.ts';
export * from './sql/finalize-batch.ts';
export * from './sql/fail-batch.ts';
export * from './sql/insert-handler-runs.ts';
export * from './sql/settle-batch.ts';
export * from './sql/cancel-batch.ts';
export * from './sql/pause-batch.ts';
export * from './sql/sweep-batches.ts';
export * from './sql/file-row.ts';
export * from './sql/create-file.ts';
export * from './sql/append-file-chunk.ts';
export * from './sql/complete-file.ts';
export * from './sql/read-file-chunks.ts';
export * from './sql/read-file-text.ts';
export * from './sql/get-file.ts';
export * from './sql/list-files.ts';
export * from './sql/delete-file.ts';
export * from './sql/delete-abandoned-uploads.ts';
export * from './sql/expire-files.ts';
export * from './sql/purge-request-data.ts';
export * from './sql/batch-row.ts';
export * from './sql/create-batch.ts';
export * from './sql/get-batch.ts';
export * from './sql/list-batch-handlers.ts';
export * from './sql/replace-batch-handlers.ts';
export * from './sql/list-batches.ts';
export * from './sql/claim-validations.ts';
export * from './sql/extend-validation.ts';
export * from './sql/insert-requests.ts';
export * from './sql/copy-requests.ts';
export * from './sql/ingest-batch.ts';
export * from './sql/batch-estimates.ts';
export * from './sql/retry-batch.ts';
export * from './sql/batch-stats.ts';
export * from './sql/model-row.ts';
export * from './sql/list-models.ts';
export * from './sql/register-model.ts';
export * from './sql/update-model.ts';
export * from './sql/remove-model.ts';
export * from './sql/served-models.ts';
export * from './sql/list-workers.ts';
export * from './sql/handler-run-row.ts';
export * from './sql/lease-handler-runs.ts';
export * from './sql/handler-run-waits.ts';
export * from './sql/reap-handler-runs.ts';
export * from './sql/extend-handler-runs.ts';
export * from './sql/save-handler-checkpoint.ts';
export * from './sql/finish-handler-run.ts';
export * from './sql/fail-handler-run.ts';
export * from './sql/retry-handler-run.ts';
export * from './sql/list-handler-runs.ts';
export * from './sql/handler-run-batch.ts';
export * from './sql/cut-ranges.ts';
export * from './sql/range-sums.ts';
export * from './sql/owner-weights.ts';
export * from './sql/owner-limits.ts';
export * from './sql/queued-requests.ts';
export * from './sql/take-rate-token.ts';
export * from './sql/queue-shares.ts';
export * from './sql/record-annotation.ts';
export * from './sql/result-metadata.ts';
export * from './sql/dataset-rows.ts';
export * from './sql/read-results.ts';
export * from './sql/superseding-change.ts';
