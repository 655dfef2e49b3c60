import type { Logger } from '../../core/logger.ts';
import { heartbeatWorker, type Database, type EngineModelCard } from '../../schema/index.ts';
import { createGpuStatsReader } from './gpu-stats.ts';
import type { WorkerStats } from './worker.ts';

/** What the worker's row says besides its counters, read at each write. */
export interface WorkerRowState {
  status: string;
  /** The models the worker serves. */
  models: readonly string[];
  /** The model an owned engine is being switched to, named in the row meanwhile. */
  loading: string | null;
}

/** Options for {@link createWorkerRow}. */
export interface WorkerRowOptions {
  database: Database;
  id: string;
  gpu: string;
  engineUrl: string;
  heartbeatMs: number;
  logger: Logger;
  state: () => WorkerRowState;
  stats: () => WorkerStats;
  /** The engine's own model cards (vLLM's root and max_model_len). */
  modelCards: () => readonly EngineModelCard[];
}

/** The writer of a worker's row in `workers`: its status, model, counters and GPU readings, which are its heartbeat too. */
export interface WorkerRow {
  /** Writes the row now, after the write under way if there is one. */
  write(): Promise<void>;
  /** Writes it every `heartbeatMs` from now on. */
  start(): void;
  stop(): void;
}

/** Creates a {@link WorkerRow}. */
export function createWorkerRow(options: WorkerRowOptions): WorkerRow {
  const { database, id, engineUrl, logger } = options;
  const gpuStats = createGpuStatsReader(options.gpu);
  const writeRow = async () => {
    const stats = await gpuStats();
    const s = options.stats();
    const { status, models, loading } = options.state();
    // The engine's own cards while they list what the worker serves.
    const cards = options.modelCards().filter((card) => models.includes(card.id));
    const engineModels = cards.length === models.length ? cards : models.map((name) => ({ id: name }));
    await heartbeatWorker(database.db, {
      id,
      status,
      model: loading ?? models[0] ?? null,
      engineModels,
      engineUrl,
      capacity: s.target,
      inFlight: s.inFlight,
      completed: s.completed,
      failed: s.failed,
      completionRate: s.completionRate,
      kvCacheUsage: s.kvCacheUsage,
      gpuStats: stats,
    });
  };
  // One row write at a time, and one more after it when asked meanwhile: two concurrent
  // writes could land out of order and leave a stale status (`switching`) behind.
  let writing: Promise<void> | null = null;
  let again = false;
  const write = (): Promise<void> => {
    if (writing) {
      again = true;
      return writing.then(() => (writing ? writing : undefined));
    }
    writing = writeRow().finally(() => {
      writing = null;
      if (again) {
        again = false;
        void write().catch(() => {});
      }
    });
    return writing;
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  return {
    write,
    start() {
      timer = setInterval(() => void write().catch((err: unknown) => logger.warn('worker heartbeat failed', { err })), options.heartbeatMs);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
