import { resolve } from 'node:path';
import type { BatchObject } from '../batch.ts';
import { writeJson, type Command } from '../command.ts';
import { EXIT, usageError } from '../exit-codes.ts';
import { formatBytes } from '../format.ts';
import { parseHandlerFlags, parseMetadataFlags } from '../handler-options.ts';
import { readInputFile } from '../input-file.ts';
import { watchBatch } from './watch.ts';

const ENDPOINTS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses'];

const list = (value: unknown): string[] => (Array.isArray(value) ? value : typeof value === 'string' ? [value] : []);

/** `vbs submit FILE.jsonl`. */
export const submit: Command = {
  name: 'submit',
  summary: 'Upload a JSONL batch file and create a batch',
  usage: `vbs submit FILE.jsonl [options]

Uploads the file (POST /v1/files) and creates a batch of it (POST /v1/batches).

  --model M              set "model" in every request body (the file is rewritten in memory)
  --priority N           higher runs first (-1000..1000, default 0)
  --endpoint PATH        /v1/chat/completions, /v1/completions, /v1/embeddings or /v1/responses
                         (default: the "url" of the file's first line)
  --window 24h           the completion window (default 24h)
  --handler NAME.OPT=V   a result handler and its options, repeatable:
                         --handler webhook.url=https://example.com/hook --handler webhook.includeResults=true
                         (values that read as JSON are JSON; \`vbs\` prints the gateway's error
                         when an option is wrong)
  --metadata KEY=VALUE   repeatable, up to 16 pairs
  --max-failures N       error budget: stop the batch once more than N requests have failed; it
                         ends failed (too_many_failures), unfinished lines go to the error file
                         as batch_failed (default: no limit, as OpenAI)
  --max-failure-ratio R  error budget as a share (0..1) of the finished requests, checked once
                         --min-requests N of them have finished (default 100)
  --watch                follow the batch until it ends (exit 0 completed, 1 failed/expired/cancelled)
  --json                 print the Batch object (then, with --watch, one JSON line per progress event)`,
  options: {
    model: { type: 'string' },
    priority: { type: 'string' },
    endpoint: { type: 'string' },
    window: { type: 'string' },
    handler: { type: 'string', multiple: true },
    metadata: { type: 'string', multiple: true },
    'max-failures': { type: 'string' },
    'max-failure-ratio': { type: 'string' },
    'min-requests': { type: 'string' },
    watch: { type: 'boolean' },
  },
  positionals: [1, 1],
  async run(context, { positionals, values }) {
    const { client, stdout, json } = context;
    const priority = values.priority === undefined ? undefined : Number(values.priority);
    if (priority !== undefined && !Number.isInteger(priority))
      throw usageError(`--priority must be a whole number, not "${values.priority}".`);
    const budget = parseBudgetFlags(values);
    const handlers = parseHandlerFlags(list(values.handler));
    const metadata = parseMetadataFlags(list(values.metadata));
    const model = typeof values.model === 'string' ? values.model : undefined;
    if (model === '') throw usageError('--model needs a model name (vbs models lists them).');

    const path = resolve(context.cwd, positionals[0]!);
    const input = await readInputFile(path, { model });
    const endpoint = typeof values.endpoint === 'string' ? values.endpoint : input.endpoint;
    if (!endpoint)
      throw usageError(`Cannot tell the endpoint from the first line of ${positionals[0]}; pass --endpoint (${ENDPOINTS.join(', ')}).`);

    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', input.file, input.file.name);
    const file = (await (await client.send('/v1/files', { method: 'POST', body: form, signal: context.signal })).json()) as {
      id: string;
      bytes: number;
    };
    if (!json) stdout.write(`Uploaded ${input.file.name} (${formatBytes(file.bytes)}) as ${file.id}\n`);

    const batch = await client.json<BatchObject>('POST', '/v1/batches', {
      input_file_id: file.id,
      endpoint,
      completion_window: typeof values.window === 'string' ? values.window : '24h',
      ...(priority === undefined ? {} : { priority }),
      ...(metadata ? { metadata } : {}),
      ...budget,
      ...(Object.keys(handlers).length ? { handlers } : {}),
    });
    if (json) writeJson(stdout, batch, { stream: values.watch === true });
    else stdout.write(`Created batch ${batch.id} (${batch.status})\n`);
    if (values.watch) return watchBatch(context, batch.id);
    if (!json) stdout.write(`Follow it: vbs watch ${batch.id}\n`);
    return EXIT.OK;
  },
};

/** The error budget's flags as the batch's fields; the gateway checks the values again and names the field when it refuses one. */
function parseBudgetFlags(values: Record<string, unknown>): Record<string, number> {
  const budget: Record<string, number> = {};
  const flag = (name: string, field: string, valid: (n: number) => boolean, what: string) => {
    const raw = values[name];
    if (typeof raw !== 'string') return;
    const n = Number(raw);
    if (raw.trim() === '' || !valid(n)) throw usageError(`--${name} must be ${what}, not "${raw}".`);
    budget[field] = n;
  };
  flag('max-failures', 'max_failed_requests', (n) => Number.isInteger(n) && n >= 0, 'a whole number of failed requests (0 or more)');
  flag('max-failure-ratio', 'max_failure_ratio', (n) => n >= 0 && n <= 1, 'a share of the finished requests from 0 to 1, such as 0.1');
  flag('min-requests', 'min_requests_for_ratio', (n) => Number.isInteger(n) && n >= 1, 'a whole number of finished requests (1 or more)');
  if (budget.min_requests_for_ratio !== undefined && budget.max_failure_ratio === undefined)
    throw usageError('--min-requests applies only with --max-failure-ratio; give both, or leave --min-requests out.');
  return budget;
}
