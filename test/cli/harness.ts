import { afterAll, beforeAll } from 'vitest';
import { runCli } from '../../cli/main.ts';
import type { Output } from '../../cli/command.ts';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { loadHandlers } from '../../handlers/index.ts';
import { useTestDatabase, type TestDatabase } from '../helpers/database.ts';

/** The shared fixtures folder (sample batch files). */
export { FIXTURES } from '../helpers/fixtures.ts';

/** What one `vbs` run printed and how it exited. */
export interface VbsRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A captured output stream; `onWrite` hears each write. */
export function captured(isTTY = false, onWrite?: () => void): Output & { text: () => string } {
  let text = '';
  return {
    write: (t) => {
      text += t;
      onWrite?.();
    },
    isTTY,
    columns: 100,
    text: () => text,
  };
}

/** Options of one in-process `vbs` run. */
export interface VbsOptions {
  fetch: typeof fetch;
  env?: Record<string, string>;
  cwd?: string;
  signal?: AbortSignal;
  tty?: boolean;
  /** Called at the first thing written to stdout (a watcher's first event). */
  onOutput?: () => void;
  /** How long a progress stream may stay silent before vbs gives it up (the default is a minute). */
  idleTimeoutMs?: number;
}

/** Runs `vbs` in this process with the given fetch (the gateway in-process), collecting its output. */
export async function vbs(args: string[], options: VbsOptions): Promise<VbsRun> {
  const stdout = captured(options.tty, options.onOutput);
  const stderr = captured();
  const code = await runCli(args, {
    stdout,
    stderr,
    env: { VBS_URL: 'http://gateway.test', ...options.env },
    cwd: options.cwd ?? process.cwd(),
    fetch: options.fetch,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
  });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** A gateway app in this process on a fresh Postgres database, and `vbs` calling it through `app.fetch`. */
export interface CliHarness {
  app: ReturnType<typeof createApp>;
  db: TestDatabase;
  fetch: typeof fetch;
  run(args: string[], options?: Omit<VbsOptions, 'fetch'>): Promise<VbsRun>;
  /** Starts a `vbs watch ...` run; `started` resolves once it printed its first event. */
  watch(args: string[], options?: Omit<VbsOptions, 'fetch' | 'onOutput'>): { started: Promise<void>; result: Promise<VbsRun> };
}

/** Gives the test file a gateway app with the built-in handlers and the given environment (API_KEYS, WEBHOOK_SECRET, ...). */
export function useCliGateway(env: Record<string, string> = {}): () => CliHarness {
  const test = useTestDatabase();
  let harness: CliHarness | undefined;
  beforeAll(async () => {
    const db = test();
    const handlers = await loadHandlers({ env });
    const app = createApp({
      config: loadGatewayConfig(env),
      database: db.database,
      logger: createLogger({ level: 'silent' }),
      handlers,
      progressIntervalMs: 20,
    });
    const fetch = ((input: RequestInfo | URL, init?: RequestInit) =>
      Promise.resolve(app.fetch(new Request(input, init)))) as typeof globalThis.fetch;
    const run = (args: string[], options: Omit<VbsOptions, 'fetch'> = {}) => vbs(args, { fetch, ...options });
    harness = {
      app,
      db,
      fetch,
      run,
      watch(args, options = {}) {
        let started!: () => void;
        const output = new Promise<void>((resolve) => (started = resolve));
        return { started: output, result: run(args, { ...options, onOutput: () => started() }) };
      },
    };
  });
  afterAll(async () => {
    await harness?.app.close();
  });
  return () => {
    if (!harness) throw new Error('useCliGateway: call the getter inside a test');
    return harness;
  };
}
