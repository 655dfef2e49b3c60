import type { Builder } from '../builder.ts';

/** Adds the `RegisterModelInput` input type; returns its ref. */
export function defineRegisterModelInput(builder: Builder) {
  return builder.inputType('RegisterModelInput', {
    description: 'A model to add to the registry.',
    fields: (t) => ({
      name: t.string({ required: true, description: 'The served model name that requests give as `model`.' }),
      source: t.string({ required: true, description: 'Where the weights come from: a Hugging Face repository or a local path.' }),
      engineArgs: t.stringList({ required: true, defaultValue: [], description: 'Extra `vllm serve` arguments.' }),
      maxConcurrency: t.int({ description: 'At most this many requests of the model in flight on one worker.' }),
      enabled: t.boolean({ required: true, defaultValue: true }),
    }),
  });
}
