import type { HandlerRegistry, InputObjectSpec, InputTypeSpec } from '../../../handlers/sdk/index.ts';
import type { Builder } from '../builder.ts';

/**
 * Adds `BatchHandlersInput`, with one field per installed handler whose type is built
 * from the handler's zod options (`WebhookHandlerOptions`, ...), descriptions included;
 * returns its ref for `CreateBatchInput.handlers`.
 */
export function defineHandlerInputs(builder: Builder, registry: HandlerRegistry) {
  // Pothos types its refs from static shapes; these are built from data at start-up,
  // so the refs are held untyped and zod (in the registry) types the values instead.
  const made = new Map<string, unknown>();

  const typeOf = (spec: InputTypeSpec): unknown => {
    switch (spec.kind) {
      case 'scalar':
        return spec.name;
      case 'list':
        return [typeOf(spec.of)];
      case 'enum':
        if (!made.has(spec.name)) {
          const values = Object.fromEntries(spec.values.map((value) => [value, { value }]));
          made.set(spec.name, builder.enumType(spec.name, { description: spec.description, values }));
        }
        return made.get(spec.name);
      case 'object':
        return objectOf(spec);
    }
  };

  const objectOf = (spec: InputObjectSpec): unknown => {
    if (made.has(spec.name)) return made.get(spec.name);
    const ref = builder.inputRef<Record<string, unknown>>(spec.name);
    made.set(spec.name, ref);
    ref.implement({
      description: spec.description,
      fields: (t) =>
        Object.fromEntries(
          spec.fields.map((field) => [
            field.name,
            t.field({
              type: typeOf(field.type) as never,
              required: (field.type.kind === 'list' ? { list: field.required, items: true } : field.required) as never,
              description: field.description,
              ...(field.defaultValue === undefined ? {} : { defaultValue: field.defaultValue as never }),
            }),
          ]),
        ),
    });
    return ref;
  };

  return builder.inputType('BatchHandlersInput', {
    description:
      'Result handlers to run when the batch ends (completed, failed, expired or cancelled): one field per installed handler, holding its options.',
    fields: (t) =>
      Object.fromEntries(
        registry.handlers.map((handler) => [
          handler.name,
          t.field({ type: objectOf(handler.input) as never, description: handler.description }),
        ]),
      ),
  });
}
