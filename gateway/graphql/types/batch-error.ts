import type { BatchErrorItem } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';

/** Adds the `BatchError` type; returns its ref. */
export function defineBatchError(builder: Builder) {
  return builder.objectRef<BatchErrorItem>('BatchError').implement({
    description: "Why a batch failed validation: one per bad input line, as in OpenAI's `errors.data`.",
    fields: (t) => ({
      code: t.exposeString('code', { description: 'A machine-readable reason, e.g. invalid_json, duplicate_custom_id, invalid_url.' }),
      message: t.exposeString('message', { description: 'What is wrong and what to do.' }),
      param: t.exposeString('param', { nullable: true, description: 'The field at fault, e.g. custom_id or body.model.' }),
      line: t.exposeInt('line', { nullable: true, description: 'The 1-based line of the input file.' }),
    }),
  });
}
