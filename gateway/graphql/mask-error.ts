import type { GraphQLError } from 'graphql';
import { createGraphQLError, maskError as yogaMaskError } from 'graphql-yoga';
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

/**
 * Yoga's error masking with the application's errors let through: an AppError keeps its
 * message and says its code in `extensions.code`; anything else is logged and masked.
 */
export function createMaskError(logger: Logger) {
  return function maskError(error: unknown, message: string, isDev?: boolean): Error {
    // Resolver errors arrive wrapped, sometimes twice (located, then by the executor).
    let original: unknown = error;
    while (isGraphQLError(original) && original.originalError) original = original.originalError;
    original = databaseClientError(original) ?? original;
    if (original instanceof AppError && original.code === 'UNAVAILABLE') logger.warn('database unavailable', { err: original.cause });
    if (original instanceof AppError) {
      // Made by Yoga's own graphql-js copy, so that Yoga knows it for an expected error.
      return createGraphQLError(original.message, {
        ...(isGraphQLError(error) ? { nodes: error.nodes ?? null, path: error.path ?? undefined } : {}),
        extensions: { code: original.code, ...(original.param ? { param: original.param } : {}) },
      });
    }
    if (original instanceof Error && !isGraphQLError(original)) logger.error('unexpected error in a GraphQL resolver', { err: original });
    return yogaMaskError(error, message, isDev);
  };
}
