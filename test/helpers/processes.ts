import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The Bun and Deno binaries installed from the npm registry. */
export const BUN = fileURLToPath(new URL('../../node_modules/.bin/bun', import.meta.url));
export const DENO = fileURLToPath(new URL('../../node_modules/.bin/deno', import.meta.url));

/** The result of a process run to its end. */
export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end and collects its output. */
export function runToEnd(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A long-running child process whose output is kept for assertions and debugging. */
export interface Running {
  child: ChildProcess;
  output: () => string;
  /** Resolves when the output matches, rejects when the process exits first or time runs out. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The processes {@link start} started that are still running. */
const running = new Set<ChildProcess>();

/**
 * Kills what {@link start} started and nobody stopped, and says how many: a test that timed out
 * never reached its own stop. Run after each test file (test/setup/leftover-processes.ts), so that
 * such a process does not run on, loading the machine, through the rest of the suite and after it.
 */
export function killLeftoverProcesses(): number {
  const left = [...running];
  for (const child of left) child.kill('SIGKILL');
  running.clear();
  return left.length;
}

/** Starts a long-running process (a gateway, a worker, a simulator). */
export function start(command: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Running {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const append = (d: Buffer) => {
    output += d.toString();
    for (const l of listeners) l();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return {
    child,
    output: () => output,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = output.match(pattern);
          if (match) {
            done();
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${output}`));
        }, timeoutMs);
        const onExit = (code: number | null) => {
          done();
          reject(new Error(`process exited (${code}) before ${pattern}; output:\n${output}`));
        };
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.on('exit', onExit);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

function listenOn(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** A TCP port on 127.0.0.1 that is free now. */
export async function freePort(): Promise<number> {
  const server = await listenOn(0);
  if (!server) throw new Error('no free port');
  const { port } = server.address() as AddressInfo;
  await close(server);
  return port;
}

/** A port P such that P and P + 1 are both free now (for `--metrics-port`, which gives worker i P + i). */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = await listenOn(0);
    if (!first) continue;
    const { port } = first.address() as AddressInfo;
    const second = port < 65535 ? await listenOn(port + 1) : null;
    await close(first);
    if (second) {
      await close(second);
      return port;
    }
  }
  throw new Error('no two adjacent free ports');
}

/** Whether a process of this pid is alive (signal 0 reaches it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
