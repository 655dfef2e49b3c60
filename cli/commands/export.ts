import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { writeJson, type Command, type CommandContext } from '../command.ts';
import { CliError, EXIT, usageError } from '../exit-codes.ts';
import { formatBytes, formatCount } from '../format.ts';

/** The --format values and the GraphQL DatasetFormat each stands for. */
const FORMATS: Record<string, string> = { 'openai-chat': 'OPENAI_CHAT', 'prompt-completion': 'PROMPT_COMPLETION' };

const EXPORT = `mutation($input: ExportDatasetInput!) {
  exportDataset(input: $input) { id filename lines bytes }
}`;

interface DatasetFile {
  id: string;
  filename: string;
  lines: number;
  bytes: number;
}

const list = (value: unknown): string[] => (Array.isArray(value) ? value : typeof value === 'string' ? [value] : []);

/** Streams the file's content to `path` through `path.partial` (a broken download leaves nothing under the real name), or to stdout for `-`. */
async function saveContent({ client, signal, stdout }: CommandContext, fileId: string, path: string | null): Promise<void> {
  const response = await client.send(`/v1/files/${encodeURIComponent(fileId)}/content`, { signal });
  const body = Readable.fromWeb(client.readBody(response.body!) as unknown as NodeReadableStream<Uint8Array>);
  if (path === null) {
    const decoder = new TextDecoder();
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        stdout.write(decoder.decode(chunk, { stream: true }));
        done();
      },
      final(done) {
        stdout.write(decoder.decode());
        done();
      },
    });
    await pipeline(body, out);
    return;
  }
  const partial = `${path}.partial`;
  try {
    await pipeline(body, createWriteStream(partial));
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    if (error instanceof CliError || signal.aborted) throw error;
    throw usageError(`Cannot write ${path}: ${(error as Error).message}.`);
  }
}

/** `vbs export BATCH_ID... --format F -o FILE`. */
export const exportCommand: Command = {
  name: 'export',
  summary: 'Export annotated results as a fine-tuning dataset (JSONL)',
  usage: `vbs export BATCH_ID... --format openai-chat|prompt-completion -o FILE [options]

Writes a dataset of the succeeded results of up to 100 of your chat, completions or
responses batches (GraphQL exportDataset): by default only the results starred gold, each with the reviewer's
correction in place of the answer when there is one. The dataset is also kept on the gateway
as a file with purpose "fine-tune" (GET /v1/files?purpose=fine-tune); its id and line count
are printed on stderr.

  --format F       openai-chat: {"messages": [...]} per line (OpenAI's fine-tuning format);
                   prompt-completion: {"prompt": ..., "completion": ...} per line
  -o FILE          where to write it ("-" for stdout)
  --all            every succeeded result, not only the gold ones
  --min-rating N   only results rated N (1-5) or better
  --label L        only results with label L; repeatable: any of the labels
  --json           print the file (id, filename, lines, bytes, path) as JSON`,
  options: {
    format: { type: 'string' },
    output: { type: 'string', short: 'o' },
    all: { type: 'boolean' },
    'min-rating': { type: 'string' },
    label: { type: 'string', multiple: true },
  },
  positionals: [1, 100],
  async run(context, { positionals, values }) {
    const format = FORMATS[String(values.format)];
    if (!format) throw usageError(`--format must be openai-chat or prompt-completion${values.format ? `, not "${values.format}"` : ''}.`);
    if (typeof values.output !== 'string' || values.output === '') {
      throw usageError('Give -o FILE, where to write the dataset (-o - writes it to stdout).');
    }
    const toStdout = values.output === '-';
    if (toStdout && context.json) throw usageError('--json prints on stdout; with it, write the dataset to a file (-o FILE).');
    const minRating = values['min-rating'] === undefined ? null : Number(values['min-rating']);
    if (minRating !== null && !Number.isInteger(minRating)) {
      throw usageError(`--min-rating must be a whole number from 1 to 5, not "${values['min-rating']}".`);
    }
    const labels = list(values.label);
    const { exportDataset: file } = await context.client.graphql<{ exportDataset: DatasetFile }>(EXPORT, {
      input: {
        batchIds: positionals,
        format,
        goldOnly: values.all !== true,
        ...(minRating === null ? {} : { minRating }),
        ...(labels.length ? { labels } : {}),
      },
    });
    const path = toStdout ? null : resolve(context.cwd, values.output);
    await saveContent(context, file.id, path);
    context.stderr.write(`${file.id}: ${formatCount(file.lines)} lines (${formatBytes(file.bytes)})${path ? ` written to ${path}` : ''}\n`);
    if (file.lines === 0) {
      context.stderr.write(
        `No result matched: only succeeded results are exported${values.all === true ? '' : ', and only gold ones without --all'}.\n`,
      );
    }
    if (context.json) writeJson(context.stdout, { ...file, path });
    return EXIT.OK;
  },
};
