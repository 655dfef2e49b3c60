import { BATCH_EVENTS, HANDLER_EVENTS, inputTypeName, type HandlerRegistry, type InstalledHandler } from '../../../handlers/sdk/index.ts';
import type { Builder } from '../builder.ts';

/** Adds the `Handler` type and `Query.handlers`: the handlers installed by the manifests. */
export function defineHandlerInfo(builder: Builder, registry: HandlerRegistry) {
  const HandlerRef = builder.objectRef<InstalledHandler>('Handler').implement({
    description: 'A result handler installed by a manifest; give its options under CreateBatchInput.handlers.<name>.',
    fields: (t) => ({
      name: t.exposeString('name', { description: 'The key under `handlers` when creating a batch.' }),
      description: t.exposeString('description'),
      manifest: t.exposeString('manifest', { description: 'The manifest file that installed it.' }),
      module: t.exposeString('module', {
        description: 'The module as the manifest names it (a path relative to the manifest, or a package).',
      }),
      events: t.stringList({
        description:
          "The events it runs for: a batch's final statuses (completed, failed, expired, cancelled) and result.annotated (each change of the annotation of a result of a batch that named it). A handler whose events depend on per-batch options lists every event it may run for; its runs for the others end `skipped`.",
        resolve: (handler) => {
          const events = handler.definition.events;
          if (typeof events === 'function') return [...HANDLER_EVENTS];
          return [...(events ?? BATCH_EVENTS)];
        },
      }),
      after: t.stringList({
        description:
          "The handlers of the same batch it runs after, for the same event (its definition's `after` and its manifest's): its run waits until theirs have succeeded or been skipped.",
        resolve: (handler) => [...(registry.after[handler.name] ?? [])],
      }),
      inputType: t.string({
        description: 'The GraphQL input type of its per-batch options.',
        resolve: (handler) => inputTypeName(handler.name),
      }),
      optionsSchema: t.field({
        type: 'JSON',
        description: 'The JSON Schema of its per-batch options (for REST clients).',
        resolve: (handler) => handler.optionsSchema,
      }),
    }),
  });

  builder.queryField('handlers', (t) =>
    t.field({
      type: [HandlerRef],
      description: 'The result handlers installed in this deployment, from the built-in manifest and HANDLER_MANIFESTS.',
      resolve: () => [...registry.handlers],
    }),
  );
  return HandlerRef;
}
