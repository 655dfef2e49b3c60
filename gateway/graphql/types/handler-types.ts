import type { HandlerRegistry } from '../../../handlers/sdk/index.ts';
import type { Builder } from '../builder.ts';
import type { defineBatch } from './batch.ts';
import { defineBatchHandlerOptions } from './batch-handler-options.ts';
import { defineBatchHandlerRuns } from './handler-batch-runs.ts';
import { defineHandlerInfo } from './handler-info.ts';
import { defineHandlerInputs } from './handler-inputs.ts';
import { defineHandlerRun } from './handler-run.ts';

/**
 * Adds everything about result handlers: `Query.handlers`, `HandlerRun`, `Batch.handlerRuns`, `Batch.handlers`,
 * `Mutation.retryHandlerRun`, and the options input of every installed handler. Returns
 * the `BatchHandlersInput` ref for `CreateBatchInput.handlers`, or undefined when no
 * handler is installed (GraphQL has no empty input types).
 */
export function defineHandlerTypes(
  builder: Builder,
  { registry, Batch }: { registry: HandlerRegistry; Batch: ReturnType<typeof defineBatch> },
) {
  defineHandlerInfo(builder, registry);
  const { HandlerRun, HandlerRunStatus } = defineHandlerRun(builder, registry);
  defineBatchHandlerRuns(builder, { Batch, HandlerRun, HandlerRunStatus });
  defineBatchHandlerOptions(builder, { Batch, registry });
  return registry.handlers.length > 0 ? defineHandlerInputs(builder, registry) : undefined;
}
