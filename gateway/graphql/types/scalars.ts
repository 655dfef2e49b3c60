import { GraphQLError, Kind, type ValueNode } from 'graphql';
import type { Builder } from '../builder.ts';

function parseJsonLiteral(ast: ValueNode): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map(parseJsonLiteral);
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, parseJsonLiteral(f.value)]));
    default:
      throw new GraphQLError('Variables are not allowed inside JSON literals');
  }
}

/** Adds the DateTime and JSON scalars. */
export function defineScalars(builder: Builder): void {
  builder.scalarType('DateTime', {
    description: 'An ISO-8601 timestamp.',
    serialize: (value) => (value as Date).toISOString(),
    parseValue: (value) => {
      const date = new Date(String(value));
      if (Number.isNaN(date.getTime())) throw new GraphQLError(`Expected an ISO-8601 timestamp, got ${String(value)}`);
      return date;
    },
  });
  builder.scalarType('JSON', {
    description: 'Any JSON value.',
    serialize: (value) => value,
    parseValue: (value) => value,
    parseLiteral: parseJsonLiteral,
  });
}
