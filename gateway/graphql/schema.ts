import type { GraphQLSchema } from 'graphql';
import { createHandlerRegistry, type HandlerRegistry } from '../../handlers/sdk/index.ts';
import { createBuilder } from './builder.ts';
import { defineBatch } from './types/batch.ts';
import { defineBatchConnection } from './types/batch-connection.ts';
import { defineBatchEdge } from './types/batch-edge.ts';
import { defineBatchError } from './types/batch-error.ts';
import { defineBatchRequestInput } from './types/batch-request-input.ts';
import { defineBatchStats } from './types/batch-stats.ts';
import { defineBatchStatus } from './types/batch-status.ts';
import { defineCreateBatchInput } from './types/create-batch-input.ts';
import { defineFile } from './types/file.ts';
import { defineHandlerTypes } from './types/handler-types.ts';
import { defineGpuStats } from './types/gpu-stats.ts';
import { defineModel } from './types/model.ts';
import { defineModelStats } from './types/model-stats.ts';
import { definePageInfo } from './types/page-info.ts';
import { defineRegisterModelInput } from './types/register-model-input.ts';
import { defineRequestCounts } from './types/request-counts.ts';
import { defineStatusCount } from './types/status-count.ts';
import { defineUpdateModelInput } from './types/update-model-input.ts';
import { defineUpload } from './types/upload.ts';
import { defineWorker } from './types/worker.ts';
import { defineBatchEvents } from './types/batch-events.ts';
import { defineBatchProgress } from './types/batch-progress.ts';
import { defineBatchResults } from './types/batch-results.ts';
import { defineHealth } from './types/health.ts';
import { defineScalars } from './types/scalars.ts';
import { defineWorkerEvents } from './types/worker-events.ts';
import { defineOwnerWeight } from './types/owner-weight.ts';
import { defineQueueShares } from './types/queue-shares.ts';
import { defineOwnerLimits } from './types/owner-limits.ts';
import { defineFleetHistory } from './types/fleet-history.ts';
import { defineProgressCurve } from './types/progress-curve.ts';
import { defineExportDataset } from './types/export-dataset.ts';
import { defineAnnotation } from './types/annotation.ts';
import { defineResult } from './types/result.ts';
import { defineResultConnection } from './types/result-connection.ts';
import { defineAnnotateResult } from './types/result-annotate.ts';
import { defineResultAnnotations } from './types/result-annotations.ts';

/** Options of {@link createSchema}. */
export interface SchemaOptions {
  /** The installed result handlers: each adds its options input under CreateBatchInput.handlers. */
  handlers?: HandlerRegistry;
}

/** Builds the gateway's GraphQL schema. */
export function createSchema({ handlers = createHandlerRegistry([]) }: SchemaOptions = {}): GraphQLSchema {
  const builder = createBuilder();
  defineScalars(builder);
  defineHealth(builder);
  defineBatchProgress(builder);
  defineBatchEvents(builder);
  defineWorkerEvents(builder);
  // The Batch API: files, batches, models, workers, stats.
  defineUpload(builder);
  const File = defineFile(builder);
  const BatchStatus = defineBatchStatus(builder);
  const Batch = defineBatch(builder, {
    File,
    BatchStatus,
    RequestCounts: defineRequestCounts(builder),
    BatchError: defineBatchError(builder),
  });
  const PageInfo = definePageInfo(builder);
  defineBatchConnection(builder, { Batch, BatchStatus, BatchEdge: defineBatchEdge(builder, Batch), PageInfo });
  // Results you can see and annotate: Batch.results, annotateResult, resultAnnotations.
  const { Annotation, AnnotationSource } = defineAnnotation(builder);
  const { Result, ResultStatus } = defineResult(builder, { Annotation });
  defineResultConnection(builder, { Batch, Result, ResultStatus, PageInfo });
  defineAnnotateResult(builder, { Result, AnnotationSource });
  defineResultAnnotations(builder, { Result });
  defineBatchResults(builder, { Result });
  const BatchHandlersInput = defineHandlerTypes(builder, { registry: handlers, Batch });
  defineCreateBatchInput(builder, { Batch, BatchRequestInput: defineBatchRequestInput(builder), BatchHandlersInput });
  defineModel(builder, { RegisterModelInput: defineRegisterModelInput(builder), UpdateModelInput: defineUpdateModelInput(builder) });
  defineWorker(builder, defineGpuStats(builder));
  defineBatchStats(builder, { StatusCount: defineStatusCount(builder), ModelStats: defineModelStats(builder) });
  // Fair share between owners: the administrators' weights and the queue's shares.
  defineOwnerWeight(builder);
  defineQueueShares(builder);
  // Quotas: queued requests and API rate per owner.
  defineOwnerLimits(builder);
  // The dashboard's charts: the fleet's history and a batch's progress curve.
  defineFleetHistory(builder);
  defineProgressCurve(builder, Batch);
  // Datasets out: fine-tuning files from annotated results.
  defineExportDataset(builder, { File });
  return builder.toSchema({ sortSchema: true });
}
