import { Kind, type ASTVisitor, type SelectionSetNode, type ValidationContext } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';

/**
 * The depth of a selection: one per level of nested fields, fragments expanded (a
 * fragment spread adds no level of its own). Cycles count as infinitely deep; graphql-js
 * reports them too, but the rules run side by side.
 */
function selectionDepth(selectionSet: SelectionSetNode, context: ValidationContext, limit: number, visiting: Set<string>): number {
  let deepest = 0;
  for (const selection of selectionSet.selections) {
    let depth = 0;
    if (selection.kind === Kind.FIELD) {
      depth = selection.selectionSet ? 1 + selectionDepth(selection.selectionSet, context, limit - 1, visiting) : 1;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      depth = selectionDepth(selection.selectionSet, context, limit, visiting);
    } else {
      const name = selection.name.value;
      const fragment = context.getFragment(name);
      if (visiting.has(name)) return Number.POSITIVE_INFINITY;
      if (fragment) {
        visiting.add(name);
        depth = selectionDepth(fragment.selectionSet, context, limit, visiting);
        visiting.delete(name);
      }
    }
    deepest = Math.max(deepest, depth);
    // Past the limit the exact depth does not matter: stop walking.
    if (deepest > limit) return deepest;
  }
  return deepest;
}

/** A validation rule refusing operations whose selections nest deeper than `maxDepth` fields. */
export function createDepthLimitRule(maxDepth: number) {
  return function DepthLimitRule(context: ValidationContext): ASTVisitor {
    return {
      OperationDefinition(operation) {
        const depth = selectionDepth(operation.selectionSet, context, maxDepth, new Set());
        if (depth <= maxDepth) return;
        const name = operation.name ? `Operation ${operation.name.value}` : 'The operation';
        context.reportError(
          createGraphQLError(
            `${name} nests fields more than ${maxDepth} deep (GRAPHQL_MAX_DEPTH); ask for fewer nested levels, in several queries if need be.`,
            {
              nodes: [operation],
              extensions: { code: 'BAD_REQUEST' },
            },
          ) as never,
        );
      },
    };
  };
}
