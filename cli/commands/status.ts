import { isFinal, type BatchObject, type ListObject } from '../batch.ts';
import { writeJson, type Command, type CommandContext } from '../command.ts';
import { EXIT, usageError } from '../exit-codes.ts';
import { formatCount, formatTable, formatTime } from '../format.ts';

interface HandlerRun {
  handler: string;
  status: string;
  attempts: number;
  lastError: string | null;
}

const HANDLER_RUNS = 'query ($id: ID!) { batch(id: $id) { handlerRuns { handler status attempts lastError } } }';

/** The detail view of one batch: counts, times, files, handler runs and validation errors. */
function describeBatch(b: BatchObject, runs: HandlerRun[]): string {
  const { total, completed, failed } = b.request_counts;
  const rows: [string, string][] = [
    ['endpoint', b.endpoint],
    ['model', b.model ?? '(mixed)'],
    ['priority', String(b.priority)],
    ['requests', `${formatCount(total)} total, ${formatCount(completed)} completed, ${formatCount(failed)} failed`],
  ];
  if (b.usage) rows.push(['tokens', `${formatCount(b.usage.input_tokens)} prompt, ${formatCount(b.usage.output_tokens)} completion`]);
  if (!isFinal(b.status)) {
    rows.push([
      'queue position',
      b.queue_position === null ? '-' : b.queue_position === 0 ? 'running (or next)' : String(b.queue_position),
    ]);
    rows.push(['estimated done', formatTime(b.estimated_completion_at)]);
  }
  const times: [string, number | null][] = [
    ['created', b.created_at],
    ['in progress', b.in_progress_at],
    ['finalizing', b.finalizing_at],
    ['completed', b.completed_at],
    ['failed', b.failed_at],
    ['cancelling', b.cancelling_at],
    ['cancelled', b.cancelled_at],
    ['expired', b.expired_at],
    ['paused', b.paused_at ?? null],
  ];
  for (const [label, at] of times) if (at !== null) rows.push([label, formatTime(at)]);
  if (!isFinal(b.status)) rows.push(['expires', formatTime(b.expires_at)]);
  rows.push(['input file', b.input_file_id]);
  if (b.output_file_id) rows.push(['output file', b.output_file_id]);
  if (b.error_file_id) rows.push(['error file', b.error_file_id]);
  for (const run of runs) {
    rows.push([
      `handler ${run.handler}`,
      `${run.status} (${run.attempts} attempt${run.attempts === 1 ? '' : 's'})${run.lastError ? `: ${run.lastError}` : ''}`,
    ]);
  }
  let text = `${b.id}  ${b.status}\n${rows.map(([k, v]) => `  ${k.padEnd(16)}${v}\n`).join('')}`;
  const errors = b.errors?.data ?? [];
  if (errors.length) {
    text += `  errors:\n${errors.map((e) => `    ${e.line === null ? '' : `line ${e.line}: `}${e.code}: ${e.message}\n`).join('')}`;
  }
  return text;
}

async function showOne({ client, stdout, json }: CommandContext, id: string) {
  const batch = await client.json<BatchObject>('GET', `/v1/batches/${encodeURIComponent(id)}`);
  if (json) return writeJson(stdout, batch);
  const { batch: extra } = await client.graphql<{ batch: { handlerRuns: HandlerRun[] } | null }>(HANDLER_RUNS, { id });
  stdout.write(describeBatch(batch, extra?.handlerRuns ?? []));
}

async function showList({ client, stdout, json }: CommandContext, limit: number) {
  const page = await client.json<ListObject<BatchObject>>('GET', `/v1/batches?limit=${limit}`);
  if (json) return writeJson(stdout, page.data);
  if (!page.data.length) return stdout.write('No batches yet: vbs submit FILE.jsonl\n');
  const rows = page.data.map((b) => [
    b.id,
    b.status,
    b.model ?? '(mixed)',
    `${formatCount(b.request_counts.completed + b.request_counts.failed)}/${formatCount(b.request_counts.total)}`,
    formatCount(b.request_counts.failed),
    formatTime(b.created_at),
  ]);
  stdout.write(formatTable(['ID', 'STATUS', 'MODEL', 'DONE', 'FAILED', 'CREATED'], rows));
}

/** `vbs status [ID]`. */
export const status: Command = {
  name: 'status',
  summary: 'Show one batch, or list your latest batches',
  usage: `vbs status [BATCH_ID] [--limit N] [--json]

With an id: the batch's status, request counts, tokens, queue position and estimated
completion, timestamps, files, result handler runs and validation errors.
Without: your latest batches, newest first (--limit, default 20, at most 100).
--json prints the OpenAI Batch object (a list of them without an id).`,
  options: { limit: { type: 'string' } },
  positionals: [0, 1],
  async run(context, { positionals, values }) {
    const [id] = positionals;
    if (id) await showOne(context, id);
    else {
      const limit = Number(values.limit ?? 20);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100)
        throw usageError(`--limit must be a whole number from 1 to 100, not "${values.limit}".`);
      await showList(context, limit);
    }
    return EXIT.OK;
  },
};
