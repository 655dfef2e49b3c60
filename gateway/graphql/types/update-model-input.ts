import type { Builder } from '../builder.ts';

/** Adds the `UpdateModelInput` input type (only the fields given change); returns its ref. */
export function defineUpdateModelInput(builder: Builder) {
  return builder.inputType('UpdateModelInput', {
    description: 'Changes to a registered model; fields left out stay as they are.',
    fields: (t) => ({
      source: t.string(),
      engineArgs: t.stringList(),
      maxConcurrency: t.int(),
      enabled: t.boolean(),
    }),
  });
}
