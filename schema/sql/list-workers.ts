import { sql } from 'drizzle-orm';
import type { GpuStats } from '../tables/workers.ts';
import { rows, type Executor } from '../db.ts';

/** A worker process as the API shows it; times in milliseconds since the epoch. */
export interface WorkerRow {
  id: string;
  host: string;
  gpu: string;
  pid: number;
  runtime: string;
  model: string | null;
  engineUrl: string;
  status: string;
  capacity: number;
  inFlight: number;
  completed: number;
  failed: number;
  gpuStats: GpuStats | null;
  /** The engine's KV-cache use, 0 to 1, at the last heartbeat; null when the engine does not report it. */
  kvCacheUsage: number | null;
  startedAtMs: number;
  heartbeatAtMs: number;
}

/** The fleet's workers, live ones first, then by host and GPU (only live ones unless asked). */
export async function listWorkers(db: Executor, { includeStopped = false }: { includeStopped?: boolean } = {}): Promise<WorkerRow[]> {
  const found = await rows<Omit<WorkerRow, 'gpuStats'> & { gpuStats: string | null }>(
    db,
    sql`select id, host, gpu, pid, runtime, model, engine_url as "engineUrl", status, capacity, in_flight as "inFlight",
          completed::float8 as "completed", failed::float8 as "failed", gpu_stats::text as "gpuStats",
          kv_cache_usage::float8 as "kvCacheUsage",
          (extract(epoch from started_at) * 1000)::float8 as "startedAtMs",
          (extract(epoch from heartbeat_at) * 1000)::float8 as "heartbeatAtMs"
        from workers
        ${includeStopped ? sql`` : sql`where status not in ('stopped', 'lost')`}
        order by status in ('stopped', 'lost'), host, gpu, id`,
  );
  return found.map((w) => ({ ...w, gpuStats: w.gpuStats === null ? null : (JSON.parse(w.gpuStats) as GpuStats) }));
}
