import { AppError } from '../../core/errors.ts';
import { isSealed, sealHandlerOptions } from '../../core/secrets/index.ts';
import { hostsOf, HandlerOptionsError, literalDestinationProblem, type HandlerRegistry } from '../../handlers/sdk/index.ts';
import type { AppDeps } from '../app-deps.ts';

/** False for an unpaired UTF-16 surrogate or a NUL: jsonb, where handler options are stored, holds neither. */
const storable = (text: string) => text.isWellFormed() && !text.includes('\u0000');

/**
 * The first string in `value` that `problemOf` finds a problem with, with its path, or null
 * (an array's items are keyed by index); object keys are tested too when `keys` is set.
 */
function firstProblem(
  value: unknown,
  path: string,
  problemOf: (text: string) => string | null,
  keys = false,
): { path: string; problem: string } | null {
  if (typeof value === 'string') {
    const problem = problemOf(value);
    return problem === null ? null : { path, problem };
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const keyProblem = keys ? problemOf(key) : null;
      const found =
        keyProblem === null ? firstProblem(item, `${path}.${key}`, problemOf, keys) : { path: `${path}.${key}`, problem: keyProblem };
      if (found) return found;
    }
  }
  return null;
}

/** The path of the first value in `value` shaped as a sealed secret (`{ "$sealed": "..." }`), or null. */
function firstSealed(value: unknown, path: string): string | null {
  if (isSealed(value)) return path;
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = firstSealed(item, `${path}.${key}`);
      if (found) return found;
    }
  }
  return null;
}

/** The secret options of each installed handler, by handler name. */
export const secretOptionsOf = (registry: HandlerRegistry) => (name: string) => registry.get(name)?.secretOptions;

/**
 * Validates a new batch's `handlers` object with the installed handlers' options and
 * returns it as stored in `batches.handlers`, with the options the handlers mark secret sealed
 * with SECRETS_KEY (kept as given without a key: keyless local mode). A bad option is a
 * BAD_REQUEST naming the handler and the option (`handlers.webhook.url: expected a URL ...`),
 * and so is a URL whose host is visibly not public (`http://10.0.0.5/`, `http://localhost/`)
 * where HANDLER_PRIVATE_NETWORKS refuses it: the fleet would refuse to send there when the
 * batch ends. The hosts named in a handler's deployment options are allowed for it. A value
 * shaped as a sealed secret, at any depth, is a BAD_REQUEST too.
 */
export async function parseBatchHandlers(
  { handlers: registry, config }: Pick<AppDeps, 'handlers' | 'config'>,
  input: unknown,
): Promise<Record<string, unknown>> {
  const { destinations } = config;
  // Only the gateway seals. A sealed value given as input (copied from a dump of another
  // batch) would be opened for this batch's handler and sent to the caller's destination.
  const sealed = firstSealed(input, 'handlers');
  if (sealed) {
    throw new AppError(
      'BAD_REQUEST',
      `${sealed} is an encrypted value ({"$sealed": ...}), which only the server writes; give the option's plain value, which is encrypted when stored.`,
      {
        param: sealed,
        reason: 'invalid_handler_options',
      },
    );
  }
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
  const bad = firstProblem(parsed, 'handlers', (text) => (storable(text) ? null : 'unstorable'), true)?.path;
  if (bad) {
    throw new AppError(
      'BAD_REQUEST',
      `${bad} holds a NUL character or an unpaired surrogate escape (such as \\ud800), which cannot be stored; use valid Unicode.`,
      {
        param: bad,
        reason: 'invalid_handler_options',
      },
    );
  }
  for (const [name, options] of Object.entries(parsed)) {
    const policy = { ...destinations, allowedHosts: [...destinations.allowedHosts, ...hostsOf(registry.get(name)?.deployment)] };
    const refused = firstProblem(options, `handlers.${name}`, (text) => literalDestinationProblem(text, policy));
    if (refused)
      throw new AppError('BAD_REQUEST', `${refused.path}: ${refused.problem}.`, { param: refused.path, reason: 'destination_not_allowed' });
  }
  return sealHandlerOptions(config.secrets, parsed, secretOptionsOf(registry));
}
