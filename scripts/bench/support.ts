// What the benchmarks share: arguments, scratch databases, child processes, and the result row.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { batches, createDatabase, ingestBatch, newId, runMigrations, type Database } from '../../schema/index.ts';
import { ADMIN_URL, DB_TAG, FETCH_LIMIT_RAISED, INHERITED_ENV, VERBOSE } from './config.ts';

/** The Bun binary running the benchmarks; every child process is started with it. */
export const BUN = process.execPath;

export { ADMIN_URL, REDIS_URL } from './config.ts';

/** What Bun's fetch limit is set to for every process of a benchmark (Bun caps concurrent fetches at 256 without it). */
export const FETCH_LIMIT = '8192';

/** One benchmark's outcome: a row of the results table. */
export interface BenchResult {
  name: string;
  title: string;
  /** The benchmark's own figure: throughput, seconds or milliseconds. */
  result: Figure;
  /** The reference measured in the same run; null where the goal is absolute. */
  reference: Figure | null;
  /** result ÷ reference, when there is a reference. */
  ratio: number | null;
  goal: string;
  pass: boolean;
  /** Further numbers of the run, shown under the table. */
  details: Record<string, number | string>;
}

/** A number with its unit and what it is. */
export interface Figure {
  value: number;
  unit: string;
  label: string;
}

/** Whether the benchmark runs in quick mode (`--quick`: small sizes, to prove it works). */
export function modeOf(argv = process.argv): { quick: boolean } {
  return { quick: argv.includes('--quick') };
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * A benchmark's sizes for its mode, each number overridable from the command line by its
 * kebab-case name (`requests` by `--requests 6000`, `tpotMs` by `--tpot-ms 8`).
 */
export function sizesFor<T extends Record<string, unknown>>(quickSizes: T, fullSizes: T, argv = process.argv.slice(2)): T {
  const numeric = Object.keys(fullSizes).filter((k) => typeof fullSizes[k] === 'number');
  const { values } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean' }, ...Object.fromEntries(numeric.map((k) => [kebab(k), { type: 'string' as const }])) },
  });
  const sizes: Record<string, unknown> = { ...(values.quick ? quickSizes : fullSizes) };
  for (const key of numeric) {
    const given = values[kebab(key) as keyof typeof values];
    if (typeof given !== 'string') continue;
    const value = Number(given);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${kebab(key)} must be a positive number, not "${given}"`);
    sizes[key] = value;
  }
  return sizes as T;
}

/**
 * Bun reads BUN_CONFIG_MAX_HTTP_REQUESTS once at start-up; a benchmark started without it
 * runs itself again with it set (and exits with the child's code), so that clients and
 * children may hold thousands of streams.
 */
export async function ensureFetchLimit(): Promise<void> {
  if (FETCH_LIMIT_RAISED) return;
  const child = Bun.spawn([BUN, ...process.argv.slice(1)], {
    env: { ...INHERITED_ENV, BUN_CONFIG_MAX_HTTP_REQUESTS: FETCH_LIMIT },
    stdio: ['inherit', 'inherit', 'inherit'],
  });
  process.exit(await child.exited);
}

/** Prints the result for the runner (one `BENCH_RESULT` line on stdout) and for a person (stderr). */
export function report(result: BenchResult): void {
  console.error(`${result.title}: ${JSON.stringify(result)}`);
  console.log(`BENCH_RESULT ${JSON.stringify(result)}`);
}

/** Progress for the person watching, on stderr. */
export function say(name: string, message: string): void {
  console.error(`[${name}] ${message}`);
}

/** A freshly created, migrated database that {@link ScratchDatabase.drop} removes again. */
export interface ScratchDatabase {
  url: string;
  name: string;
  database: Database;
  drop(): Promise<void>;
}

/**
 * Creates and migrates a database of the benchmark's own. Its name carries BENCH_DB_TAG when
 * set (the test suite sets its run id, so its teardown removes anything a crash left).
 */
export async function createScratchDatabase(bench: string, maxConnections = 4): Promise<ScratchDatabase> {
  const tag = DB_TAG ? `${DB_TAG}_` : '';
  const name = `vbs_bench_${tag}${bench.replace(/\W/g, '_')}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const database = await createDatabase({ url: url.toString(), maxConnections, applicationName: `vbs-bench-${bench}` });
  await runMigrations(database);
  return {
    url: url.toString(),
    name,
    database,
    async drop() {
      await database.close();
      const dropper = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/** A child process whose stderr is kept, to wait for a log line. */
export interface Child {
  process: ReturnType<typeof Bun.spawn>;
  /** Resolves with the first match of `pattern` in the output; rejects if the process exits first or time runs out. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  output(): string;
  /** Sends the signal (SIGTERM unless told) and waits for the exit. */
  stop(signal?: NodeJS.Signals | number): Promise<number>;
}

const spawned = new Set<ReturnType<typeof Bun.spawn>>();
// Whatever way the benchmark ends, none of its processes outlives it.
process.on('exit', () => {
  for (const child of spawned) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => process.exit(130));
}

/** Starts a Bun process on one of the project's entry files, its output kept (and echoed when BENCH_VERBOSE is set). */
export function spawnBun(args: string[], env: Record<string, string>): Child {
  const child = Bun.spawn([BUN, ...args], {
    env: { ...INHERITED_ENV, BUN_CONFIG_MAX_HTTP_REQUESTS: FETCH_LIMIT, ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  spawned.add(child);
  void child.exited.then(() => spawned.delete(child));
  let text = '';
  const waiters = new Set<() => void>();
  let ended = false;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const piece = decoder.decode(chunk, { stream: true });
      if (VERBOSE) process.stderr.write(piece);
      // Only the start of a long-lived process's log is needed; keep memory bounded.
      if (text.length < 1_000_000) text += piece;
      for (const w of waiters) w();
    }
  };
  void Promise.all([pump(child.stdout), pump(child.stderr)]).finally(() => {
    ended = true;
    for (const w of waiters) w();
  });
  return {
    process: child,
    output: () => text,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} from ${args.join(' ')}:\n${text.slice(-4000)}`)),
          timeoutMs,
        );
        const finish = (error: Error | null, match?: RegExpMatchArray) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve(match!);
        };
        const check = () => {
          const match = text.match(pattern);
          if (match) finish(null, match);
          else if (ended)
            finish(new Error(`${args.join(' ')} exited (${child.exitCode}) before printing ${pattern}:\n${text.slice(-4000)}`));
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return child.exited;
    },
  };
}

/** The peak resident memory (VmHWM) of a process so far, in MB (Linux). */
export function peakRssMb(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

/** The q-quantile (0..1) of some numbers, by the nearest-rank method. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

/** Rounds to `digits` decimals. */
export const round = (value: number, digits = 0) => Number(value.toFixed(digits));

/** What {@link queueBatch} queues: `lines` requests for `model`, each body made by `body`. */
export interface QueueBatchOptions {
  lines: number;
  model: string;
  owner?: string;
  /** The batch's endpoint; chat completions unless told. */
  endpoint?: string;
  body(line: number): string;
}

/**
 * Queues an `in_progress` batch through ingest's own path (`ingestBatch`: the requests COPYed
 * and the batch cut into ranges in one transaction), as the gateway leaves a validated batch.
 */
export async function queueBatch(
  database: Database,
  { lines, model, owner = 'bench', endpoint = '/v1/chat/completions', body }: QueueBatchOptions,
): Promise<string> {
  const batchId = newId('batch_');
  const validationOwner = `bench-validator-${process.pid}`;
  await database.db.insert(batches).values({
    id: batchId,
    owner,
    endpoint,
    model,
    completionWindow: '24h',
    status: 'validating',
    validationOwner,
    inputFileId: newId('file-'),
    expiresAt: new Date(Date.now() + 86_400_000),
  });
  async function* pages() {
    for (let from = 0; from < lines; from += 500) {
      yield Array.from({ length: Math.min(500, lines - from) }, (_, k) => {
        const line = from + k + 1;
        return { line, customId: `req-${line}`, model, body: body(line) };
      });
    }
  }
  const outcome = await ingestBatch(database, { batchId, validationOwner, priority: 0 }, () => pages());
  if (outcome.kind !== 'in_progress' || outcome.total !== lines) throw new Error(`ingest left the batch ${JSON.stringify(outcome)}`);
  return batchId;
}

/** Queues an `in_progress` batch of short chat requests for `sim-model` through ingest's path. */
export function queueChatBatch(database: Database, count: number, promptChars = 0, owner = 'bench'): Promise<string> {
  return queueBatch(database, {
    lines: count,
    model: 'sim-model',
    owner,
    body: (line) => JSON.stringify({ model: 'sim-model', messages: [{ role: 'user', content: benchPrompt(line, promptChars) }] }),
  });
}

/** The prompt of line `line`: `question N`, padded to about `chars` characters (4 characters a token, as the simulator counts). */
export function benchPrompt(line: number, chars = 0): string {
  const head = `question ${line}`;
  return chars > head.length ? `${head} ${'context '.repeat(Math.ceil((chars - head.length) / 8))}`.slice(0, chars) : head;
}
