import { redactHandlerOptions, SECRET_MASK } from '../../../core/secrets/index.ts';
import type { HandlerRegistry } from '../../../handlers/sdk/index.ts';
import type { BatchRow } from '../../../schema/index.ts';
import { secretOptionsOf } from '../../batches/batch-handlers.ts';
import type { Builder } from '../builder.ts';
import type { defineBatch } from './batch.ts';

/** Adds `Batch.handlers`: the handlers a batch asked for and their options, secrets masked. */
export function defineBatchHandlerOptions(
  builder: Builder,
  { Batch, registry }: { Batch: ReturnType<typeof defineBatch>; registry: HandlerRegistry },
): void {
  const secretsOf = secretOptionsOf(registry);
  builder.objectField(Batch, 'handlers', (t) =>
    t.field({
      type: 'JSON',
      description: `The result handlers the batch asked for, with their options as validated (defaults applied). A secret option that is set shows as "${SECRET_MASK}", never its value.`,
      resolve: (batch: BatchRow) => redactHandlerOptions(batch.handlers, secretsOf),
    }),
  );
}
