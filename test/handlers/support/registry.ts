import { createHandlerRegistry, installHandler, type AnyHandler } from '../../../handlers/sdk/index.ts';

/** A registry of handlers defined in a test, as if a manifest had installed them. */
export function registryOf(...handlers: [AnyHandler, unknown?][]) {
  return createHandlerRegistry(
    handlers.map(([definition, deployment]) =>
      installHandler(definition, deployment ?? {}, { manifest: '(test)', module: `(test:${definition.name})` }),
    ),
  );
}
