import { AppError } from '../../core/errors.ts';
import { HandlerOptionsError, type HandlerRegistry } from '../../handlers/sdk/index.ts';

/** False for an unpaired UTF-16 surrogate or a NUL: jsonb, where handler options are stored, holds neither. */
const storable = (text: string) => text.isWellFormed() && !text.includes('\u0000');

/** The path of the first string in `value` that jsonb cannot store, or null (an array's items are keyed by index). */
function unstorablePath(value: unknown, path: string): string | null {
  if (typeof value === 'string') return storable(value) ? null : path;
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = storable(key) ? unstorablePath(item, `${path}.${key}`) : `${path}.${key}`;
      if (found) return found;
    }
  }
  return null;
}

/**
 * Validates a new batch's `handlers` object with the installed handlers' options and
 * returns it as stored in `batches.handlers`; a bad option is a BAD_REQUEST naming the
 * handler and the option (`handlers.webhook.url: expected a URL ...`).
 */
export function parseBatchHandlers(registry: HandlerRegistry, input: unknown): Record<string, unknown> {
  let parsed: Record<string, unknown>;
  try {
    parsed = registry.parseBatchHandlers(input, 'handlers');
  } catch (error) {
    if (!(error instanceof HandlerOptionsError)) throw error;
    throw new AppError('BAD_REQUEST', `${error.message}. The options of every installed handler are listed by Query.handlers.`, {
      param: error.issues[0]?.path ?? 'handlers',
      reason: 'invalid_handler_options',
      cause: error,
    });
  }
  const bad = unstorablePath(parsed, 'handlers');
  if (bad) {
    throw new AppError('BAD_REQUEST', `${bad} holds a NUL character or an unpaired surrogate escape (such as \\ud800), which cannot be stored; use valid Unicode.`, {
      param: bad,
      reason: 'invalid_handler_options',
    });
  }
  return parsed;
}
