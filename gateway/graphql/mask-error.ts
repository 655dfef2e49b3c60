import type { GraphQLError } from 'graphql';
import { createGraphQLError, handleStreamOrSingleExecutionResult, maskError as yogaMaskError, type Plugin } from 'graphql-yoga';
import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { databaseClientError } from '../database-errors.ts';

/** A GraphQLError of whichever copy of graphql-js made it (ESM and CommonJS copies may both be loaded). */
interface GraphQLErrorLike extends Error {
  originalError?: unknown;
  nodes?: GraphQLError['nodes'];
  path?: GraphQLError['path'];
}

const isGraphQLError = (e: unknown): e is GraphQLErrorLike => e instanceof Error && e.name === 'GraphQLError';

/** The error a resolver threw, out of the GraphQLErrors wrapped around it. */
function originalOf(error: unknown): unknown {
  let original: unknown = error;
  while (isGraphQLError(original) && original.originalError) original = original.originalError;
  return databaseClientError(original) ?? original;
}

/** Unexpected errors already logged with their request's logger, so that masking does not log them again. */
const logged = new WeakSet<object>();

/**
 * Logs a resolver's unexpected error with the operation's own logger (over HTTP, its lines carry
 * the request's `http_request_id`) before Yoga masks it; {@link createMaskError} logs the rest
 * (errors of subscription streams) with the gateway's.
 */
export function useErrorLogging(): Plugin<{ logger: Logger }> {
  return {
    onExecute({ args }) {
      return {
        onExecuteDone(payload) {
          return handleStreamOrSingleExecutionResult(payload, ({ result }) => {
            for (const error of result.errors ?? []) {
              const original = originalOf(error);
              if (original instanceof AppError || !(original instanceof Error) || isGraphQLError(original) || logged.has(original))
                continue;
              logged.add(original);
              args.contextValue.logger.error('unexpected error in a GraphQL resolver', { err: original });
            }
          });
        },
      };
    },
  };
}

/**
 * Yoga's error masking with the application's errors let through: an AppError keeps its
 * message and says its code in `extensions.code`; anything else is logged and masked.
 */
export function createMaskError(logger: Logger) {
  return function maskError(error: unknown, message: string, isDev?: boolean): Error {
    // Resolver errors arrive wrapped, sometimes twice (located, then by the executor).
    const original = originalOf(error);
    if (original instanceof AppError && original.code === 'UNAVAILABLE') logger.warn('database unavailable', { err: original.cause });
    if (original instanceof AppError) {
      // Made by Yoga's own graphql-js copy, so that Yoga knows it for an expected error.
      return createGraphQLError(original.message, {
        ...(isGraphQLError(error) ? { nodes: error.nodes ?? null, path: error.path ?? undefined } : {}),
        extensions: { code: original.code, ...(original.param ? { param: original.param } : {}) },
      });
    }
    if (original instanceof Error && !isGraphQLError(original) && !logged.has(original))
      logger.error('unexpected error in a GraphQL resolver', { err: original });
    return yogaMaskError(error, message, isDev);
  };
}
