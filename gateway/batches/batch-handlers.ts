import { AppError } from '../../core/errors.ts';
import { HandlerOptionsError, type HandlerRegistry } from '../../handlers/sdk/index.ts';

/**
 * Validates a new batch's `handlers` object with the installed handlers' options and
 * returns it as stored in `batches.handlers`; a bad option is a BAD_REQUEST naming the
 * handler and the option (`handlers.webhook.url: expected a URL ...`).
 */
export function parseBatchHandlers(registry: HandlerRegistry, input: unknown): Record<string, unknown> {
  try {
    return registry.parseBatchHandlers(input, 'handlers');
  } catch (error) {
    if (!(error instanceof HandlerOptionsError)) throw error;
    throw new AppError('BAD_REQUEST', `${error.message}. The options of every installed handler are listed by Query.handlers.`, {
      param: error.issues[0]?.path ?? 'handlers',
      reason: 'invalid_handler_options',
      cause: error,
    });
  }
}
