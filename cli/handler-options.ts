import { usageError } from './exit-codes.ts';

/** A value given on the command line: JSON when it reads as a JSON number, boolean, null, array, object or string; text otherwise. */
function parseValue(text: string): unknown {
  if (/^(-?\d+(\.\d+)?|true|false|null)$/.test(text) || /^[[{"]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      throw usageError(`--handler value ${text} looks like JSON but is not valid JSON; quote it for your shell.`);
    }
  }
  return text;
}

/**
 * Builds the `handlers` object of a new batch from `--handler` flags:
 * `webhook.url=https://x` sets handlers.webhook.url; nested paths (`webhook.headers.X-Token=abc`)
 * make nested objects; `webhook` alone asks for the handler with its defaults.
 */
export function parseHandlerFlags(flags: readonly string[]): Record<string, Record<string, unknown>> {
  const handlers: Record<string, Record<string, unknown>> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const path = (eq < 0 ? flag : flag.slice(0, eq)).split('.');
    const [name, ...keys] = path;
    if (!name || path.some((p) => p === ''))
      throw usageError(`--handler ${flag}: expected NAME or NAME.OPTION=VALUE, e.g. --handler webhook.url=https://example.com/hook`);
    const options = (handlers[name] ??= {});
    if (eq < 0) {
      if (keys.length) throw usageError(`--handler ${flag}: give the option a value, e.g. ${flag}=VALUE`);
      continue;
    }
    if (!keys.length) throw usageError(`--handler ${flag}: name the option, e.g. ${name}.url=VALUE`);
    let target = options;
    for (const key of keys.slice(0, -1)) {
      const next = target[key];
      if (next !== undefined && (typeof next !== 'object' || next === null || Array.isArray(next)))
        throw usageError(`--handler ${flag}: ${key} is already set to a value`);
      target = (target[key] ??= {}) as Record<string, unknown>;
    }
    target[keys.at(-1)!] = parseValue(flag.slice(eq + 1));
  }
  return handlers;
}

/** Parses `--metadata key=value` flags into the batch's metadata object. */
export function parseMetadataFlags(flags: readonly string[]): Record<string, string> | undefined {
  if (!flags.length) return undefined;
  const metadata: Record<string, string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    if (eq <= 0) throw usageError(`--metadata ${flag}: expected KEY=VALUE`);
    metadata[flag.slice(0, eq)] = flag.slice(eq + 1);
  }
  return metadata;
}
