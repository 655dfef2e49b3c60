import { AppError } from '../../core/errors.ts';
import { hostsOf, HandlerOptionsError, literalDestinationProblem, type DestinationPolicy, type HandlerRegistry } from '../../handlers/sdk/index.ts';

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

/** The first string in `value` that names a destination `policy` refuses (an IP literal or localhost that is not public), with its path. */
function refusedDestination(value: unknown, path: string, policy: DestinationPolicy): { path: string; problem: string } | null {
  if (typeof value === 'string') {
    const problem = literalDestinationProblem(value, policy);
    return problem ? { path, problem } : null;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = refusedDestination(item, `${path}.${key}`, policy);
      if (found) return found;
    }
  }
  return null;
}

/**
 * Validates a new batch's `handlers` object with the installed handlers' options and
 * returns it as stored in `batches.handlers`; a bad option is a BAD_REQUEST naming the
 * handler and the option (`handlers.webhook.url: expected a URL ...`), and so is a URL whose
 * host is visibly not public (`http://10.0.0.5/`, `http://localhost/`) where `destinations`
 * refuses it: the fleet would refuse to send there when the batch ends. The hosts named in a
 * handler's deployment options are allowed for it.
 */
export function parseBatchHandlers(registry: HandlerRegistry, input: unknown, destinations: DestinationPolicy): Record<string, unknown> {
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
  for (const [name, options] of Object.entries(parsed)) {
    const policy = { ...destinations, allowedHosts: [...destinations.allowedHosts, ...hostsOf(registry.get(name)?.deployment)] };
    const refused = refusedDestination(options, `handlers.${name}`, policy);
    if (refused) throw new AppError('BAD_REQUEST', `${refused.path}: ${refused.problem}.`, { param: refused.path, reason: 'destination_not_allowed' });
  }
  return parsed;
}
