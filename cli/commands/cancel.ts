import type { BatchObject } from '../batch.ts';
import { writeJson, type Command } from '../command.ts';
import { EXIT } from '../exit-codes.ts';

/** `vbs cancel ID`. */
export const cancel: Command = {
  name: 'cancel',
  summary: 'Cancel a batch (finished results are kept)',
  usage: `vbs cancel BATCH_ID [--json]

Queued requests stop, in-flight ones are aborted, finished results are kept; the batch
goes to cancelling, then cancelled. A batch that has already ended cannot be cancelled
(exit 2). --json prints the Batch object.`,
  options: {},
  positionals: [1, 1],
  async run({ client, stdout, json }, { positionals }) {
    const id = positionals[0]!;
    const batch = await client.json<BatchObject>('POST', `/v1/batches/${encodeURIComponent(id)}/cancel`);
    if (json) writeJson(stdout, batch);
    else stdout.write(`Batch ${batch.id} ${batch.status}.\n`);
    return EXIT.OK;
  },
};
