import {
  getNamedType,
  isInterfaceType,
  isObjectType,
  Kind,
  type DocumentNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type FieldNode,
} from 'graphql';

/** What {@link operationCost} needs besides the operation. */
export interface CostInput {
  schema: GraphQLSchema;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  variables?: Readonly<Record<string, unknown>> | null | undefined;
  /** Stop counting once past this (the caller only needs to know it is too much). */
  limit: number;
}

/** A page size argument: `first` as given (literal or variable), or its default. */
function pageSize(field: GraphQLField<unknown, unknown>, node: FieldNode, variables: CostInput['variables']): number {
  const definition = field.args.find((a) => a.name === 'first');
  if (!definition) return 1;
  const given = node.arguments?.find((a) => a.name.value === 'first')?.value;
  let value: unknown = definition.defaultValue;
  if (given?.kind === Kind.INT) value = Number.parseInt(given.value, 10);
  else if (given?.kind === Kind.VARIABLE) value = variables?.[given.name.value] ?? definition.defaultValue;
  return typeof value === 'number' && Number.isFinite(value) ? Math.max(1, value) : 1;
}

/**
 * What an operation costs: one per field it selects, each counted as many times as the pages
 * around it may hold (a field under `batches(first: 100)` counts 100 times), fragments
 * expanded. Aliases count separately, so asking for the same page many times costs as much.
 */
export function operationCost({ schema, document, operation, variables, limit }: CostInput): number {
  const fragments = new Map(document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])));
  const visiting = new Set<string>();
  let total = 0;
  const walk = (selectionSet: SelectionSetNode, type: GraphQLNamedType | undefined, times: number) => {
    for (const selection of selectionSet.selections) {
      if (total > limit) return;
      if (selection.kind === Kind.FIELD) {
        total += times;
        if (!selection.selectionSet) continue;
        const field = type && (isObjectType(type) || isInterfaceType(type)) ? type.getFields()[selection.name.value] : undefined;
        const inner = field ? getNamedType(field.type) : undefined;
        walk(selection.selectionSet, inner, field ? times * pageSize(field, selection, variables) : times);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const condition = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
        walk(selection.selectionSet, condition ?? undefined, times);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        // A cycle is invalid anyway (graphql-js reports it); count it as too much.
        if (visiting.has(name)) total = Number.POSITIVE_INFINITY;
        if (!fragment || visiting.has(name)) continue;
        visiting.add(name);
        walk(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value) ?? undefined, times);
        visiting.delete(name);
      }
    }
  };
  const root =
    operation.operation === 'query'
      ? schema.getQueryType()
      : operation.operation === 'mutation'
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  walk(operation.selectionSet, root ?? undefined, 1);
  return total;
}
