import type { z } from 'zod';
import type { HandlerContext, HandlerEvent } from './context.ts';

/** A problem found by a handler's cross-field `check`. */
export interface CheckIssue {
  /** The option at fault, relative to the handler's options (`['secret']`). */
  path?: (string | number)[];
  message: string;
}

/** What a handler module describes once: from it come the GraphQL input type and the validation. */
export interface HandlerDefinition<Options extends z.ZodObject = z.ZodObject, Deployment extends z.ZodObject = z.ZodObject> {
  /** The key under `handlers` in a batch (`handlers.webhook`): letters and digits, starting with a lowercase letter. */
  name: string;
  /** Shown in GraphQL (`Query.handlers`, the input type's description). */
  description: string;
  /** The per-batch options; every field's `.describe()` becomes its GraphQL description. */
  options: Options;
  /** The deployment options, given in the manifest (secrets, URLs). */
  deploymentOptions?: Deployment;
  /**
   * The events the handler runs for (default: the batch's final statuses, BATCH_EVENTS);
   * other runs end `skipped`. Name `result.annotated` to run on each annotation change of the
   * batch's results.
   */
  events?: readonly HandlerEvent[] | ((options: z.output<Options>, deployment: z.output<Deployment>) => readonly HandlerEvent[]);
  /**
   * Handlers of the same batch that must finish (succeeded or skipped) before this one runs,
   * for the same event: names of installed handlers. A run waits, queued, while one of them
   * has not finished; a dead one holds it until `retryHandlerRun` brings it through.
   */
  after?: readonly string[];
  /** Checks that need both option sets (a secret given in neither); runs after both validate. */
  check?: (options: z.output<Options>, deployment: z.output<Deployment>) => CheckIssue[] | void;
  /**
   * Carries the batch's results on. Resolve to finish the run (the value, if any, is kept
   * as the run's result, as JSON); throw to retry with backoff, or throw a
   * `HandlerError` with `retryable: false` to give up at once.
   */
  handle(context: HandlerContext<z.output<Options>, z.output<Deployment>>): Promise<unknown>;
}

/** Any handler definition, whatever its option types. */
// biome-ignore lint/suspicious/noExplicitAny: a registry holds handlers of every option type; each is checked by its own zod schema.
export type AnyHandler = HandlerDefinition<any, any>;

/** The pattern a handler name must match: usable as a GraphQL field name and a JSON key as it is. */
export const HANDLER_NAME = /^[a-z][A-Za-z0-9]*$/;

/** Defines a handler: the default export of a handler module. */
export function defineHandler<Options extends z.ZodObject, Deployment extends z.ZodObject = z.ZodObject<{}>>(
  definition: HandlerDefinition<Options, Deployment>,
): HandlerDefinition<Options, Deployment> {
  if (!HANDLER_NAME.test(definition.name)) {
    throw new Error(`defineHandler: name "${definition.name}" must match ${HANDLER_NAME} (it becomes a GraphQL field name)`);
  }
  // Duck-typed rather than instanceof: a private package may bring its own copy of zod 4.
  if ((definition.options as { _zod?: { def?: { type?: string } } })?._zod?.def?.type !== 'object') {
    throw new Error(`defineHandler(${definition.name}): options must be a zod object schema (z.object({...}))`);
  }
  return Object.freeze({ ...definition });
}

/** Whether a value looks like a handler definition (a module's default export). */
export function isHandlerDefinition(value: unknown): value is AnyHandler {
  const v = value as Partial<AnyHandler> | null;
  return !!v && typeof v === 'object' && typeof v.name === 'string' && typeof v.handle === 'function' && !!v.options;
}
