import type { z } from 'zod';
import type { HandlerEvent } from './context.ts';
import { BATCH_EVENTS } from './context.ts';
import type { AnyHandler } from './define-handler.ts';
import { HandlerOptionsError, type OptionIssue } from './errors.ts';
import { handlerOrder } from './handler-order.ts';
import { toInputSpec, toJsonSchema, type InputObjectSpec } from './input-spec.ts';
import { checkIssues, dropNulls, validate, type Validated } from './options.ts';
import { secretOptionNames } from './secret.ts';

/** A handler as installed by a manifest: its definition, validated deployment options, and where it came from. */
export interface InstalledHandler {
  name: string;
  description: string;
  definition: AnyHandler;
  /** The deployment options from the manifest, validated. */
  deployment: unknown;
  /** The manifest file that installed it (absolute path). */
  manifest: string;
  /** The module as the manifest names it (`./webhook/index.ts`, `some-package`). */
  module: string;
  /** The GraphQL input type of its per-batch options. */
  input: InputObjectSpec;
  /** The JSON Schema of its per-batch options. */
  optionsSchema: Record<string, unknown>;
  /** Its per-batch options marked `secret()`: stored encrypted, never returned. */
  secretOptions: readonly string[];
  /** The handlers its manifest entry says it runs after, besides its definition's own `after`. */
  after?: readonly string[];
}

/** The handlers installed in this process, by name; built once at start-up from the manifests. */
export interface HandlerRegistry {
  readonly handlers: readonly InstalledHandler[];
  get(name: string): InstalledHandler | undefined;
  /**
   * Validates a batch's `handlers` object (`{ webhook: {...}, ... }`) and returns it with
   * every handler's options parsed (defaults applied), ready to store. Throws a
   * {@link HandlerOptionsError} naming each bad handler and option.
   */
  parseBatchHandlers(input: unknown, prefix?: string): Record<string, unknown>;
  /** Validates the stored options of one handler again, at run time. */
  parseOptions(name: string, options: unknown): Validated<unknown>;
  /** The events the handler runs for, given its per-batch options. */
  events(name: string, options: unknown): readonly HandlerEvent[];
  /**
   * The handlers each handler runs after (its definition's `after` and its manifest entry's), by
   * name; checked when the registry is made.
   */
  readonly after: Readonly<Record<string, readonly string[]>>;
}

/** The GraphQL input type name of a handler's options: `webhook` → `WebhookHandlerOptions`. */
export const inputTypeName = (name: string) => `${name[0]?.toUpperCase()}${name.slice(1)}HandlerOptions`;

/** An installed handler built from a definition and its raw deployment options; throws with the issues when they do not validate. */
export function installHandler(
  definition: AnyHandler,
  rawDeployment: unknown,
  source: { manifest: string; module: string; after?: readonly string[] },
): InstalledHandler {
  // Unknown keys are refused, as for per-batch options: a typo in a manifest must not silently drop a secret.
  // (Without deployment options, an empty object of the handler's own zod.)
  const schema = ((definition.deploymentOptions ?? definition.options.pick({})) as z.ZodObject).strict();
  const deployment = validate(schema as z.ZodType, rawDeployment ?? {}, 'options');
  if (!deployment.ok) throw new HandlerOptionsError(deployment.issues);
  const optionsSchema = toJsonSchema(definition.options);
  return {
    name: definition.name,
    description: definition.description,
    definition,
    deployment: deployment.value,
    manifest: source.manifest,
    module: source.module,
    input: toInputSpec(inputTypeName(definition.name), definition.options, definition.description),
    optionsSchema,
    secretOptions: secretOptionNames(optionsSchema),
    ...(source.after?.length ? { after: [...source.after] } : {}),
  };
}

/**
 * Creates the registry of installed handlers; names must be unique, and every `after` must
 * name an installed handler without a cycle (a ManifestError naming them otherwise).
 */
export function createHandlerRegistry(installed: InstalledHandler[]): HandlerRegistry {
  const byName = new Map<string, InstalledHandler>();
  for (const handler of installed) {
    const other = byName.get(handler.name);
    if (other) throw new Error(`handler "${handler.name}" is installed twice (${other.manifest} and ${handler.manifest})`);
    byName.set(handler.name, handler);
  }
  const after = handlerOrder(installed);

  const parseOne = (handler: InstalledHandler, value: unknown, prefix: string): Validated<unknown> => {
    // Unknown keys are an error rather than silently dropped: a typo must not lose an option.
    const result = validate(handler.definition.options.strict() as z.ZodType, dropNulls(value ?? {}), prefix);
    if (!result.ok || !handler.definition.check) return result;
    const issues = checkIssues(handler.definition.check(result.value, handler.deployment), prefix);
    return issues.length ? { ok: false, issues } : result;
  };

  return {
    handlers: [...byName.values()],
    after,
    get: (name) => byName.get(name),
    parseBatchHandlers(input, prefix = 'handlers') {
      if (input === undefined || input === null) return {};
      if (typeof input !== 'object' || Array.isArray(input)) {
        throw new HandlerOptionsError([{ path: prefix, message: 'expected an object keyed by handler name' }]);
      }
      const issues: OptionIssue[] = [];
      const parsed: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(input)) {
        if (value === null || value === undefined) continue;
        const handler = byName.get(name);
        if (!handler) {
          const known = [...byName.keys()].join(', ') || 'none';
          issues.push({ path: `${prefix}.${name}`, message: `no handler named "${name}" is installed (installed: ${known})` });
          continue;
        }
        const result = parseOne(handler, value, `${prefix}.${name}`);
        if (result.ok) parsed[name] = result.value;
        else issues.push(...result.issues);
      }
      if (issues.length) throw new HandlerOptionsError(issues);
      return parsed;
    },
    parseOptions(name, options) {
      const handler = byName.get(name);
      if (!handler) return { ok: false, issues: [{ path: name, message: 'no such handler is installed' }] };
      return parseOne(handler, options, name);
    },
    events(name, options) {
      const handler = byName.get(name);
      const events = handler?.definition.events;
      if (!events) return BATCH_EVENTS;
      return typeof events === 'function' ? events(options, handler.deployment) : events;
    },
  };
}
