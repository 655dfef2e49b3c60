import { fileURLToPath } from 'node:url';
import { loadHandlerRegistry, type HandlerRegistry } from './sdk/index.ts';

/** The built-in manifest (webhook, labelStudio, postgresInsert), always loaded first. */
export const BUILTIN_MANIFEST = fileURLToPath(new URL('./manifest.json', import.meta.url));

/** Options of {@link loadHandlers}. */
export interface LoadHandlersOptions {
  /** More manifests (HANDLER_MANIFESTS, split on `:`), loaded after the built-in one. */
  manifests?: string[];
  /** The environment `${NAME}` references in manifests are read from. */
  env: Record<string, string | undefined>;
}

/** Loads the built-in manifest and then the given ones; throws a ManifestError naming the file and the problem. */
export function loadHandlers({ manifests = [], env }: LoadHandlersOptions): Promise<HandlerRegistry> {
  return loadHandlerRegistry({ manifests: [BUILTIN_MANIFEST, ...manifests], env });
}

/** Splits a HANDLER_MANIFESTS value (`:`-separated paths) into paths, ignoring empty parts. */
export function splitManifestList(value: string | undefined): string[] {
  return (value ?? '')
    .split(':')
    .map((s) => s.trim())
    .filter(Boolean);
}

export type { HandlerRegistry } from './sdk/index.ts';

// Label Studio's side of its inbound webhook (POST /v1/integrations/label-studio/webhook): the
// gateway serves the route, the built-in handler knows the payloads and the task data it imported.
export { resultText } from './label-studio/task.ts';
export {
  judgementOf,
  LabelStudioPayloadError,
  readLabelStudioWebhook,
  type LabelStudioAnnotation,
} from './label-studio/webhook-payload.ts';
