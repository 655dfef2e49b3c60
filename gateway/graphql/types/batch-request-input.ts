import type { Builder } from '../builder.ts';

/** Adds the `BatchRequestInput` input type (one request of an inline batch); returns its ref. */
export function defineBatchRequestInput(builder: Builder) {
  return builder.inputType('BatchRequestInput', {
    description: 'One request of a batch given inline, as a line of a batch input file would hold it.',
    fields: (t) => ({
      customId: t.string({ required: true, description: 'Your id for the request, unique within the batch; results carry it.' }),
      method: t.string({ description: 'POST (the default).' }),
      url: t.string({ description: 'The batch endpoint (the default).' }),
      body: t.field({ type: 'JSON', required: true, description: 'The request body sent to the engine as given, naming its `model`.' }),
    }),
  });
}
