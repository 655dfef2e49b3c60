import type { BatchObject } from '../batch.ts';
import { writeJson, type Command, type CommandContext } from '../command.ts';
import { CliError, EXIT, type ExitCode } from '../exit-codes.ts';
import { PROGRESS_FIELDS, renderBar, renderLine, type Progress } from '../progress-bar.ts';

const SUBSCRIPTION = `subscription ($id: ID!) { batchProgress(id: $id) { ${PROGRESS_FIELDS} } }`;
/** Without a terminal, a progress line at most this often (status changes and the end always print). */
const PLAIN_INTERVAL_MS = 2000;
/** Reconnects after the stream broke (a gateway restart), before giving up with exit 3. */
const MAX_RECONNECTS = 5;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Draws progress: one redrawn line on a terminal, plain lines otherwise, JSON lines with --json. */
function createRenderer({ stdout, json }: CommandContext) {
  let lastStatus = '';
  let lastPrinted = 0;
  let drawn = false;
  return {
    show(p: Progress) {
      if (json) return writeJson(stdout, p, { stream: true });
      if (stdout.isTTY) {
        if (!lastStatus) stdout.write(`Watching ${p.batchId} (Ctrl-C stops watching; the batch goes on)\n`);
        lastStatus = p.status;
        stdout.write(`\r\x1b[2K${renderBar(p, stdout.columns)}`);
        drawn = true;
        return;
      }
      const now = Date.now();
      if (p.status !== lastStatus || p.final || now - lastPrinted >= PLAIN_INTERVAL_MS) {
        stdout.write(`${renderLine(p)}\n`);
        lastStatus = p.status;
        lastPrinted = now;
      }
    },
    /** Ends the redrawn line so that what follows starts on its own. */
    end() {
      if (drawn) stdout.write('\n');
      drawn = false;
    },
  };
}

/** Tells a person how the batch ended and what to do next. */
async function summarize(context: CommandContext, last: Progress): Promise<void> {
  const { stdout, client } = context;
  const succeeded = `${last.completed} of ${last.total} requests succeeded, ${last.failed} failed`;
  stdout.write(`Batch ${last.batchId} ${last.status}: ${succeeded}.\n`);
  if (last.status === 'failed') {
    const batch = await client.json<BatchObject>('GET', `/v1/batches/${encodeURIComponent(last.batchId)}`);
    for (const e of batch.errors?.data.slice(0, 20) ?? [])
      stdout.write(`  ${e.line === null ? '' : `line ${e.line}: `}${e.code}: ${e.message}\n`);
    if ((batch.errors?.data.length ?? 0) > 20)
      stdout.write(`  ... and ${batch.errors!.data.length - 20} more (vbs status ${last.batchId} --json)\n`);
  } else {
    stdout.write(`Download the results: vbs download ${last.batchId}\n`);
  }
}

/**
 * Follows `batchProgress` until the batch ends; reconnects when the stream breaks after it
 * started. Exit 0 when it completed, 1 when it failed, expired or was cancelled.
 */
export async function watchBatch(context: CommandContext, id: string): Promise<ExitCode> {
  const { client, signal, stderr } = context;
  const renderer = createRenderer(context);
  let last: Progress | undefined;
  let reconnects = 0;
  try {
    while (!last?.final) {
      try {
        for await (const { batchProgress } of client.subscribe<{ batchProgress: Progress }>(SUBSCRIPTION, { id }, signal)) {
          last = batchProgress;
          reconnects = 0;
          renderer.show(batchProgress);
        }
      } catch (error) {
        if (signal.aborted) break;
        if (!last || !(error instanceof CliError) || error.exitCode !== EXIT.UNAVAILABLE) throw error;
      }
      if (last?.final || signal.aborted) break;
      if (++reconnects > MAX_RECONNECTS)
        throw new CliError(
          EXIT.UNAVAILABLE,
          `Lost the progress stream of ${id} and could not reconnect; the batch goes on: vbs watch ${id}`,
        );
      await sleep(1000 * 2 ** (reconnects - 1), signal);
    }
  } finally {
    renderer.end();
  }
  if (signal.aborted || !last) {
    stderr.write(`Stopped watching ${id}; the batch goes on (vbs cancel ${id} cancels it).\n`);
    return EXIT.INTERRUPTED;
  }
  if (!context.json) await summarize(context, last);
  return last.status === 'completed' ? EXIT.OK : EXIT.BATCH_NOT_COMPLETED;
}

/** `vbs watch ID`. */
export const watch: Command = {
  name: 'watch',
  summary: 'Follow a batch with a live progress bar until it ends',
  usage: `vbs watch BATCH_ID [--json]

Shows done/total, tokens per second and the estimated time left, live from the
batchProgress subscription, until the batch ends. Without a terminal it prints a plain
line per status change and at most one progress line every 2 seconds; --json prints
each progress event as one line of JSON.

Exits 0 when the batch completed, 1 when it failed, expired or was cancelled.`,
  options: {},
  positionals: [1, 1],
  run: (context, { positionals }) => watchBatch(context, positionals[0]!),
};
