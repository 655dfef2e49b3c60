import type { GraphQLSchema } from 'graphql';
import { createBuilder } from './builder.ts';
import { defineBatchEvents } from './types/batch-events.ts';
import { defineBatchProgress } from './types/batch-progress.ts';
import { defineHealth } from './types/health.ts';
import { defineScalars } from './types/scalars.ts';
import { defineWorkerEvents } from './types/worker-events.ts';

/** Builds the gateway's GraphQL schema. */
export function createSchema(): GraphQLSchema {
  const builder = createBuilder();
  defineScalars(builder);
  defineHealth(builder);
  defineBatchProgress(builder);
  defineBatchEvents(builder);
  defineWorkerEvents(builder);
  return builder.toSchema({ sortSchema: true });
}
