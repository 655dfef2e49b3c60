#!/usr/bin/env node
// `npx vbs ...`: runs the CLI (TypeScript) with the Bun binary the project installs from npm.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('./entry/vbs.ts', import.meta.url));
const bun = fileURLToPath(new URL('../node_modules/.bin/bun', import.meta.url));
if (!existsSync(bun)) {
  console.error(`vbs: Bun is missing (${bun}); run \`npm install\` in the repository first.`);
  process.exit(3);
}
const child = spawn(bun, [entry, ...process.argv.slice(2)], { stdio: 'inherit' });
// Ctrl-C reaches the child through the terminal's process group; the launcher waits for its exit code.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
// Killed by a signal: 128 + its number, as a shell reports it (130 only for SIGINT, which exit code 130 means).
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 2) : 1)));
