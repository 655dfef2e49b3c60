import type { BatchObject } from '../batch.ts';
import { writeJson, type Command } from '../command.ts';
import { EXIT } from '../exit-codes.ts';

/** `vbs pause ID`. */
export const pause: Command = {
  name: 'pause',
  summary: 'Pause a batch: nothing more of it runs until it is resumed',
  usage: `vbs pause BATCH_ID [--json]

Nothing more of the batch is handed to workers; requests already running finish and
their results are kept. Its status stays in_progress (with paused_at set) and its
completion window keeps running: resume it in time, or it expires. Pausing a paused
batch is no error. A batch that has ended cannot be paused (exit 2). --json prints
the Batch object.`,
  options: {},
  positionals: [1, 1],
  async run({ client, stdout, json }, { positionals }) {
    const id = positionals[0]!;
    const batch = await client.json<BatchObject>('POST', `/v1/batches/${encodeURIComponent(id)}/pause`);
    if (json) writeJson(stdout, batch);
    else stdout.write(`Batch ${batch.id} paused (${batch.status}); resume it with: vbs resume ${batch.id}\n`);
    return EXIT.OK;
  },
};

/** `vbs resume ID`. */
export const resume: Command = {
  name: 'resume',
  summary: 'Resume a paused batch',
  usage: `vbs resume BATCH_ID [--json]

Workers take up the batch's queued requests again at once. Resuming a batch that is
not paused is no error. A batch that has ended cannot be resumed (exit 2). --json
prints the Batch object.`,
  options: {},
  positionals: [1, 1],
  async run({ client, stdout, json }, { positionals }) {
    const id = positionals[0]!;
    const batch = await client.json<BatchObject>('POST', `/v1/batches/${encodeURIComponent(id)}/resume`);
    if (json) writeJson(stdout, batch);
    else stdout.write(`Batch ${batch.id} resumed (${batch.status}).\n`);
    return EXIT.OK;
  },
};
