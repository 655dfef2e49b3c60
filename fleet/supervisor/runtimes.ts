import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUN_FETCH_LIMIT } from '../config.ts';

/** How to start a worker process under one runtime. */
export interface Runtime {
  command: string;
  args: string[];
  /** Set on top of the supervisor's environment. */
  env: Record<string, string>;
}

const WORKER_ENTRY = fileURLToPath(new URL('../entry/worker.ts', import.meta.url));
/** Deno as installed from the npm registry with this project's dependencies. */
const LOCAL_DENO = fileURLToPath(new URL('../../node_modules/.bin/deno', import.meta.url));

/**
 * The runtimes a supervisor can run workers on (`--runtime`). A runtime is one entry
 * here: the command, its arguments and what it needs in the environment.
 */
export const RUNTIMES: Record<string, () => Runtime> = {
  bun: () => ({
    command: process.versions.bun ? process.execPath : 'bun',
    args: [WORKER_ENTRY],
    // Bun caps concurrent fetches at 256 unless told otherwise when it starts.
    env: { BUN_CONFIG_MAX_HTTP_REQUESTS: String(BUN_FETCH_LIMIT) },
  }),
  // The same entry: it uses no Bun API but through fleet/entry/serve-fetch.ts. -A: the worker
  // reads the environment and files, opens sockets and may start the engine (all of Deno's permissions).
  deno: () => ({
    command: process.versions.deno ? process.execPath : existsSync(LOCAL_DENO) ? LOCAL_DENO : 'deno',
    args: ['run', '-A', WORKER_ENTRY],
    env: {},
  }),
};
