import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { isFinal, type BatchObject } from '../batch.ts';
import { writeJson, type Command, type CommandContext } from '../command.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { formatBytes } from '../format.ts';

/** A result file written to disk. */
export interface Downloaded {
  kind: 'output' | 'error';
  fileId: string;
  path: string;
  bytes: number;
}

/** Streams one file's content to `path` (through a `.partial` file, so a broken download leaves no half file under the real name). */
async function saveFile({ client, signal }: CommandContext, fileId: string, path: string): Promise<number> {
  const response = await client.send(`/v1/files/${encodeURIComponent(fileId)}/content`, { signal });
  const partial = `${path}.partial`;
  let bytes = 0;
  try {
    const body = Readable.fromWeb(client.readBody(response.body!) as unknown as NodeReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => (bytes += chunk.length));
    await pipeline(body, createWriteStream(partial));
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return bytes;
}

/** Downloads the output and error files of an ended batch into `dir`, as `<batch>_output.jsonl` and `<batch>_error.jsonl`. */
export async function downloadResults(context: CommandContext, id: string, dir: string): Promise<Downloaded[]> {
  const batch = await context.client.json<BatchObject>('GET', `/v1/batches/${encodeURIComponent(id)}`);
  const files = [
    { kind: 'output' as const, fileId: batch.output_file_id },
    { kind: 'error' as const, fileId: batch.error_file_id },
  ].filter((f): f is { kind: 'output' | 'error'; fileId: string } => Boolean(f.fileId));
  if (!files.length) {
    throw new CliError(
      EXIT.NOT_FOUND,
      isFinal(batch.status)
        ? `Batch ${id} ended ${batch.status} without result files (vbs status ${id} shows why).`
        : `Batch ${id} is ${batch.status}: its result files exist once it ends (vbs watch ${id}).`,
    );
  }
  await mkdir(dir, { recursive: true });
  const saved: Downloaded[] = [];
  for (const { kind, fileId } of files) {
    const path = resolve(dir, `${batch.id}_${kind}.jsonl`);
    saved.push({ kind, fileId, path, bytes: await saveFile(context, fileId, path) });
  }
  return saved;
}

/** `vbs download ID [-o DIR]`. */
export const download: Command = {
  name: 'download',
  summary: 'Download the output and error files of an ended batch',
  usage: `vbs download BATCH_ID [-o DIR] [--json]

Writes DIR/BATCH_ID_output.jsonl (the responses, in input order) and
DIR/BATCH_ID_error.jsonl (the failed, cancelled or expired requests), whichever the
batch has; DIR is the current directory by default and is created if missing.
Exits 4 when the batch has not ended yet. --json prints what was written.`,
  options: { output: { type: 'string', short: 'o' } },
  positionals: [1, 1],
  async run(context, { positionals, values }) {
    const dir = resolve(context.cwd, typeof values.output === 'string' ? values.output : '.');
    const saved = await downloadResults(context, positionals[0]!, dir);
    if (context.json) writeJson(context.stdout, saved);
    else for (const f of saved) context.stdout.write(`${f.kind.padEnd(6)} ${f.path} (${formatBytes(f.bytes)})\n`);
    return EXIT.OK;
  },
};
