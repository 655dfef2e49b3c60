import type { Command, CommandContext } from '../command.ts';
import { CliError, EXIT, usageError, type ExitCode } from '../exit-codes.ts';

const SUBSCRIPTION = `subscription ($id: ID!, $from: Int) { batchResults(batchId: $id, fromLine: $from) { line outputLine } }`;
/** Reconnects in a row without a result between them before giving up with exit 3. */
const MAX_RECONNECTS = 5;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Prints a batch's results as JSONL, in input order, from line `from` until the batch has
 * ended; when the stream breaks it subscribes again from the line after the last one printed.
 * A stream that ends is followed by one more subscription from the next line, which ends at
 * once without a line when the batch is really over: a gateway that closed the stream without
 * saying it was complete does not lose the rest.
 */
export async function tailBatch(context: CommandContext, id: string, from: number): Promise<ExitCode> {
  const { client, signal, stdout, stderr } = context;
  let next = from;
  let reconnects = 0;
  for (;;) {
    let printed = 0;
    try {
      for await (const { batchResults } of client.subscribe<{ batchResults: { line: number; outputLine: string } }>(
        SUBSCRIPTION,
        { id, from: next },
        signal,
      )) {
        stdout.write(`${batchResults.outputLine}\n`);
        next = batchResults.line + 1;
        printed += 1;
        reconnects = 0;
      }
      if (printed === 0) return EXIT.OK;
      continue;
    } catch (error) {
      if (signal.aborted) break;
      if (!(error instanceof CliError) || error.exitCode !== EXIT.UNAVAILABLE) throw error;
      if (++reconnects > MAX_RECONNECTS)
        throw new CliError(
          EXIT.UNAVAILABLE,
          `Lost the results stream of ${id} and could not reconnect (${error.message}); go on with: vbs tail ${id} --from ${next}`,
        );
      stderr.write(`vbs: the results stream broke (${error.message}); reconnecting from line ${next}.\n`);
    }
    await sleep(1000 * 2 ** (reconnects - 1), signal);
    if (signal.aborted) break;
  }
  stderr.write(`Stopped following ${id}; go on with: vbs tail ${id} --from ${next}\n`);
  return EXIT.INTERRUPTED;
}

/** `vbs tail ID [--from LINE]`. */
export const tail: Command = {
  name: 'tail',
  summary: "Print a batch's results as JSONL as they are written",
  usage: `vbs tail BATCH_ID [--from LINE]

Prints each result of the batch as one line of JSON, exactly as the output file
(succeeded requests) or the error file (the rest) holds it, in input order: those
already written at once, then each as workers write it, until the batch has ended.
A line is printed only after every line before it. When the stream breaks (a gateway
restart) it reconnects from the line after the last one printed, so nothing is
missed or printed twice.

  --from LINE   start at input line LINE (lines are numbered from 1; default: the first)

Exits 0 after the last result of an ended batch.`,
  options: { from: { type: 'string' } },
  positionals: [1, 1],
  run: (context, { positionals, values }) => {
    const raw = values.from as string | undefined;
    const from = raw === undefined ? 0 : Number(raw);
    if (!Number.isInteger(from) || from < 0) throw usageError(`--from takes a line number (1 or more), not "${raw}".`);
    return tailBatch(context, positionals[0]!, from);
  },
};
