import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../../core/logger.ts';
import { createPeriodic, createWakeable } from '../../core/loop.ts';
import { createSecretBox, type SecretBox } from '../../core/secrets/index.ts';
import type { DestinationPolicy, HandlerRegistry } from '../../handlers/sdk/index.ts';
import { extendHandlerRuns, HANDLER_RUNS_CHANNEL, leaseHandlerRuns, reapHandlerRuns, type Database } from '../../schema/index.ts';
import { executeRun, type RunOutcome } from './execute-run.ts';

/** Options for {@link createHandlerRunner}. */
export interface HandlerRunnerOptions {
  database: Database;
  registry: HandlerRegistry;
  logger: Logger;
  /** The lease owner written on runs; unique per process. */
  owner?: string;
  /** Runs executed at once. */
  concurrency?: number;
  /** How often to look for due runs when idle (the backstop; `nudge()` wakes it sooner). */
  pollIntervalMs?: number;
  /** How long a run stays leased without a heartbeat; a dead process's runs are retried after it. */
  leaseMs?: number;
  /** Retry backoff: base * 2^(attempt - 1), capped, with jitter. */
  backoff?: { baseMs: number; maxMs: number };
  /** How long to wait for running handlers on `stop()` before interrupting them. */
  stopGraceMs?: number;
  fetch?: typeof fetch;
  /** Which destinations a batch's handler options may name (the process's HANDLER_PRIVATE_NETWORKS and HANDLER_ALLOWED_HOSTS). */
  destinations: DestinationPolicy;
  /** Opens the batches' sealed secret options: the worker's SECRETS_KEY and SECRETS_KEY_PREVIOUS (default: no key, plain options only). */
  secrets?: SecretBox;
  resultsPageSize?: number;
  /** Called after each run ends in this process (for tests and metrics). */
  onRunEnd?: (runId: number, outcome: RunOutcome) => void;
}

/** The handler-run executor: leases due runs from `handler_runs`, runs them, records the outcome. */
export interface HandlerRunner {
  readonly owner: string;
  start(): void;
  /** Wakes the loop to look for due runs now (for a NOTIFY, or after finalizing a batch in-process). */
  nudge(): void;
  /** Stops leasing, waits up to the grace period for running handlers, then interrupts them (they are retried) and waits up to the grace period again. */
  stop(): Promise<void>;
}

/** Creates the handler-run executor of a fleet process (the worker, or the embedded `npm start`). */
export function createHandlerRunner({
  database,
  registry,
  logger: parentLogger,
  owner = `handlers-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
  concurrency = 4,
  pollIntervalMs = 1000,
  leaseMs = 30_000,
  backoff = { baseMs: 5_000, maxMs: 10 * 60_000 },
  stopGraceMs = 10_000,
  fetch: fetchImpl = fetch,
  destinations,
  secrets = createSecretBox(),
  resultsPageSize = 500,
  onRunEnd,
}: HandlerRunnerOptions): HandlerRunner {
  const logger = parentLogger.child({ component: 'handler-runner', owner });
  const names = registry.handlers.map((h) => h.name);
  // heldUntil: when the run's lease runs out by this process's clock, unless renewed (taken before each request, so early rather than late).
  const active = new Map<number, { controller: AbortController; done: Promise<void>; heldUntil: number }>();
  const beatMs = Math.max(100, Math.floor(leaseMs / 3));
  let stopping = false;
  let loop: Promise<void> | undefined;
  /** The loop's sleep between polls, which a NOTIFY or a run's end cuts short. */
  const idle = createWakeable();
  let unlisten: Promise<(() => Promise<void>) | undefined> | undefined;

  const nudge = () => idle.wake();

  const launch = (run: Awaited<ReturnType<typeof leaseHandlerRuns>>[number], leasedAt: number) => {
    const controller = new AbortController();
    const done = executeRun(run, {
      database,
      registry,
      logger,
      owner,
      fetch: fetchImpl,
      destinations,
      secrets,
      backoff,
      resultsPageSize,
      signal: controller.signal,
    }).then((outcome) => {
      active.delete(run.id);
      onRunEnd?.(run.id, outcome);
      nudge();
    });
    active.set(run.id, { controller, done, heldUntil: leasedAt + leaseMs });
  };

  const cycle = async () => {
    await reapHandlerRuns(database.db);
    const free = concurrency - active.size;
    if (free <= 0) return false;
    const leasedAt = Date.now();
    const runs = await leaseHandlerRuns(database.db, { owner, handlers: names, limit: free, leaseMs, after: registry.after });
    for (const run of runs) launch(run, leasedAt);
    return runs.length === free;
  };

  const run = async () => {
    while (!stopping) {
      let more = false;
      try {
        more = await cycle();
      } catch (error) {
        logger.error('handler runner could not lease runs; retrying', { err: error });
      }
      if (!more && !stopping) await idle.sleep(pollIntervalMs);
    }
  };

  const extendRuns = async () => {
    const ids = [...active.keys()];
    if (ids.length === 0) return;
    const sentAt = Date.now();
    try {
      const held = new Set(await extendHandlerRuns(database.db, { owner, ids, leaseMs }));
      for (const id of ids) {
        const run = active.get(id);
        if (!held.has(id)) run?.controller.abort('lease lost');
        else if (run) run.heldUntil = sentAt + leaseMs;
      }
    } catch (error) {
      logger.warn('could not extend handler run leases', { err: error });
      // A lease that runs out before the next renewal lets another process take the run over:
      // stop the handler now rather than run it twice at once.
      for (const id of ids) {
        const run = active.get(id);
        if (run && run.heldUntil <= Date.now() + beatMs) run.controller.abort('lease lost');
      }
    }
  };

  const heartbeat = createPeriodic(extendRuns, beatMs);

  return {
    owner,
    start() {
      if (loop) return;
      logger.info('handler runner started', { handlers: names, concurrency });
      heartbeat.start();
      unlisten = database.listen(HANDLER_RUNS_CHANNEL, nudge).catch((err: unknown) => {
        logger.warn('cannot listen for new handler runs; polling only', { err });
        return undefined;
      });
      loop = run();
    },
    nudge,
    async stop() {
      stopping = true;
      idle.close();
      await loop;
      /** Waits for the active runs to end, for at most the grace. */
      const runsEnd = () =>
        Promise.race([
          Promise.all([...active.values()].map((r) => r.done)),
          new Promise<void>((resolve) => setTimeout(resolve, stopGraceMs).unref?.()),
        ]);
      await runsEnd();
      for (const r of active.values()) r.controller.abort('the process is stopping');
      // A handler that ignores its signal must not keep the process from stopping: its run
      // is left `running`, and another process takes it over when the lease expires.
      await runsEnd();
      if (active.size) logger.warn('handler runs did not stop when interrupted; their leases will expire', { runs: [...active.keys()] });
      heartbeat.stop();
      await (await unlisten)?.().catch(() => {});
      logger.info('handler runner stopped');
    },
  };
}
