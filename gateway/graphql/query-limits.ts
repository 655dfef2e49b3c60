import { getOperationAST, type DocumentNode, type GraphQLSchema } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { createDepthLimitRule } from './depth-limit.ts';
import { operationCost } from './operation-cost.ts';
import { sourceNesting } from './source-nesting.ts';

/** Options for {@link useQueryLimits}. */
export interface QueryLimitsOptions {
  /** GRAPHQL_MAX_DEPTH: the deepest nesting of fields. */
  maxDepth: number;
  /** GRAPHQL_MAX_COST: the most an operation may cost ({@link operationCost}). */
  maxCost: number;
}

interface OperationArgs {
  schema: GraphQLSchema;
  document: DocumentNode;
  operationName?: string | null | undefined;
  variableValues?: Readonly<Record<string, unknown>> | null | undefined;
}

/**
 * Refuses documents whose brackets nest too deep to parse safely (checked on the text),
 * operations nested too deep (a validation rule: it depends on the document only)
 * and operations that cost too much (checked before execution, where the variables that
 * size the pages are known). Both answer with `extensions.code` BAD_REQUEST and a message
 * naming the limit, over HTTP, SSE and WebSocket alike.
 */
export function useQueryLimits({ maxDepth, maxCost }: QueryLimitsOptions): Plugin {
  const depthRule = createDepthLimitRule(maxDepth);
  // Brackets also nest for arguments and input values: a generous multiple of the field depth.
  const maxNesting = Math.max(64, maxDepth * 4);
  const tooCostly = (args: OperationArgs) => {
    const operation = getOperationAST(args.document, args.operationName);
    if (!operation) return null;
    const cost = operationCost({ schema: args.schema, document: args.document, operation, variables: args.variableValues, limit: maxCost });
    if (cost <= maxCost) return null;
    const shown = Number.isFinite(cost) ? `at least ${cost}` : 'without bound';
    return {
      errors: [
        createGraphQLError(
          `The operation costs ${shown}, more than ${maxCost} (GRAPHQL_MAX_COST: one per field, times the page size of each page it is in); ask for smaller pages or fewer fields, in several queries if need be.`,
          { extensions: { code: 'BAD_REQUEST' } },
        ),
      ],
    };
  };
  return {
    onParse({ parseFn, setParseFn }) {
      setParseFn((source, options) => {
        if (sourceNesting(typeof source === 'string' ? source : source.body, maxNesting) > maxNesting) {
          throw createGraphQLError(
            `The operation nests brackets more than ${maxNesting} deep; ask for fewer nested levels (GRAPHQL_MAX_DEPTH is ${maxDepth}).`,
            {
              extensions: { code: 'BAD_REQUEST' },
            },
          );
        }
        return parseFn(source, options);
      });
    },
    onValidate({ addValidationRule }) {
      addValidationRule(depthRule);
    },
    onExecute({ args, setResultAndStopExecution }) {
      const refused = tooCostly(args);
      if (refused) setResultAndStopExecution(refused);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refused = tooCostly(args);
      if (refused) setResultAndStopExecution(refused);
    },
  };
}
