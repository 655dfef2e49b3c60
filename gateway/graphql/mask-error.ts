import { GraphQLError } from 'graphql';
import { maskError as yogaMaskError } from 'graphql-yoga';
import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';

/**
 * Yoga's error masking with the application's errors let through: an AppError keeps its
 * message and says its code in `extensions.code`; anything else is logged and masked.
 */
export function createMaskError(logger: Logger) {
  return function maskError(error: unknown, message: string, isDev?: boolean): Error {
    // Resolver errors arrive wrapped, sometimes twice (located, then by the executor).
    let original: unknown = error;
    while (original instanceof GraphQLError && original.originalError) original = original.originalError;
    if (original instanceof AppError) {
      return new GraphQLError(original.message, {
        ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
        extensions: { code: original.code, ...(original.param ? { param: original.param } : {}) },
      });
    }
    if (original instanceof Error && !(original instanceof GraphQLError)) logger.error('unexpected error in a GraphQL resolver', { err: original });
    return yogaMaskError(error, message, isDev);
  };
}
