import SchemaBuilder from '@pothos/core';
import type { GraphQLContext } from './context.ts';

/** The types every part of the schema is built with. */
export interface SchemaTypes {
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    Upload: { Input: File; Output: never };
  };
}

/**
 * Creates a Pothos schema builder: plugins and the context type, no types of its own.
 * A factory rather than a module singleton, because the schema depends on the handlers
 * installed at start-up (each handler adds its own input type).
 */
export function createBuilder() {
  const builder = new SchemaBuilder<SchemaTypes>({ defaultFieldNullability: false });
  builder.queryType({});
  builder.subscriptionType({});
  builder.mutationType({});
  return builder;
}

/** A schema builder, as the `define*` function of each type file receives it. */
export type Builder = ReturnType<typeof createBuilder>;
