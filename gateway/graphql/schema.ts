import type { GraphQLSchema } from 'graphql';
import { createBuilder } from './builder.ts';
import { defineHealth } from './types/health.ts';
import { defineScalars } from './types/scalars.ts';

/** Builds the gateway's GraphQL schema. */
export function createSchema(): GraphQLSchema {
  const builder = createBuilder();
  defineScalars(builder);
  defineHealth(builder);
  return builder.toSchema({ sortSchema: true });
}
