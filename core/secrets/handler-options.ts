import { isSealed, type SealedValue, type SecretBox } from './secret-box.ts';

/** The secret options of a handler by name (`webhook` → `['secret', 'headers']`); undefined for a handler this process has not installed. */
export type SecretOptionsOf = (handler: string) => readonly string[] | undefined;

/** What a secret option shows instead of its value when a batch is read (as GitHub shows a webhook's secret). */
export const SECRET_MASK = '********';

type Options = Record<string, unknown>;
const isObject = (value: unknown): value is Options => !!value && typeof value === 'object' && !Array.isArray(value);

/** The label a secret is sealed under: its handler and option, so a value moved to another option does not open. */
const labelOf = (handler: string, option: string) => `handlers.${handler}.${option}`;

/**
 * A batch's `handlers` (validated options by handler) as stored: each secret option sealed
 * with the current key. Without a key (keyless local mode) the options are kept as given.
 * A value that already looks sealed is sealed again, never stored as given: the gateway
 * refuses such input, and a sealed value copied from another batch must not open as its own.
 */
export async function sealHandlerOptions(box: SecretBox, handlers: Options, secretOptionsOf: SecretOptionsOf): Promise<Options> {
  if (!box.canSeal) return handlers;
  const out: Options = {};
  for (const [handler, options] of Object.entries(handlers)) {
    const secrets = secretOptionsOf(handler) ?? [];
    if (!isObject(options) || !secrets.some((name) => options[name] !== undefined)) {
      out[handler] = options;
      continue;
    }
    const sealed: Options = { ...options };
    for (const name of secrets) {
      if (sealed[name] !== undefined) sealed[name] = await box.seal(JSON.stringify(sealed[name]), labelOf(handler, name));
    }
    out[handler] = sealed;
  }
  return out;
}

/**
 * One handler's stored options with the sealed values of its secret options opened, as the
 * handler receives them. A sealed value in any other option is left sealed (and so fails the
 * handler's validation): only what the gateway sealed is opened. Plain values (a batch stored
 * without a key, or by a release before secrets were sealed) are kept as they are. Throws a
 * SecretsKeyError when a value was sealed with a key this process lacks.
 */
export async function openHandlerOptions(
  box: SecretBox,
  handler: string,
  options: unknown,
  secretOptions: readonly string[],
): Promise<unknown> {
  const opens = (name: string, value: unknown) => secretOptions.includes(name) && isSealed(value);
  if (!isObject(options) || !Object.entries(options).some(([name, value]) => opens(name, value))) return options;
  const out: Options = {};
  for (const [name, value] of Object.entries(options)) {
    out[name] = opens(name, value) ? JSON.parse(await box.open(value as SealedValue, labelOf(handler, name))) : value;
  }
  return out;
}

/**
 * A batch's `handlers` as the API shows them: each secret option (and anything sealed) as
 * {@link SECRET_MASK}, so a caller sees that it is set but never its value. Every option of a
 * handler this gateway has not installed is masked: which of them are secret is not known.
 */
export function redactHandlerOptions(handlers: Options, secretOptionsOf: SecretOptionsOf): Options {
  const out: Options = {};
  for (const [handler, options] of Object.entries(handlers)) {
    const secrets = secretOptionsOf(handler);
    if (!isObject(options)) {
      out[handler] = options;
      continue;
    }
    out[handler] = Object.fromEntries(
      Object.entries(options).map(([name, value]) => [name, !secrets || secrets.includes(name) || isSealed(value) ? SECRET_MASK : value]),
    );
  }
  return out;
}

/**
 * A stored `handlers` re-sealed for the current key: plain secret options (from before a key
 * was set, or from the previous release) sealed, and values sealed with SECRETS_KEY_PREVIOUS
 * sealed again with SECRETS_KEY. Null when nothing needs it.
 */
export async function resealHandlerOptions(box: SecretBox, handlers: Options, secretOptionsOf: SecretOptionsOf): Promise<Options | null> {
  if (!box.canSeal) return null;
  let changed = false;
  const out: Options = {};
  for (const [handler, options] of Object.entries(handlers)) {
    out[handler] = options;
    if (!isObject(options)) continue;
    const secrets = secretOptionsOf(handler) ?? [];
    const next: Options = { ...options };
    for (const [name, value] of Object.entries(options)) {
      const label = labelOf(handler, name);
      if (isSealed(value) && !(await box.isCurrent(value))) next[name] = await box.seal(await box.open(value, label), label);
      else if (!isSealed(value) && value !== undefined && secrets.includes(name)) next[name] = await box.seal(JSON.stringify(value), label);
      else continue;
      changed = true;
    }
    out[handler] = next;
  }
  return changed ? out : null;
}
