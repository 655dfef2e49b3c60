// The `vbs` command (run by cli/vbs.mjs under Bun): wires the process to runCli.
import { runCli } from '../main.ts';
import type { Output } from '../command.ts';

const output = (stream: NodeJS.WriteStream): Output => ({
  write: (text) => void stream.write(text),
  get isTTY() {
    return stream.isTTY === true;
  },
  get columns() {
    return stream.columns || 80;
  },
});

const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());

const code = await runCli(process.argv.slice(2), {
  stdout: output(process.stdout),
  stderr: output(process.stderr),
  cwd: process.cwd(),
  signal: interrupt.signal,
});
// Let stdout drain (a pipe to `head` or a file) before exiting.
process.stdout.write('', () => process.exit(code));
