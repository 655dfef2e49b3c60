import { sql } from 'drizzle-orm';
import type { Executor } from '../db.ts';
import type { EngineModelCard, GpuStats } from '../tables/workers.ts';

/** What a worker reports on each heartbeat; counters are the process's totals. */
export interface WorkerHeartbeat {
  id: string;
  status: string;
  model: string | null;
  /** Every model the engine serves; left as it is when undefined. */
  engineModels?: EngineModelCard[];
  engineUrl: string;
  capacity: number;
  inFlight: number;
  completed: number;
  failed: number;
  /**
   * Requests the worker finishes per second, smoothed; left as it is when undefined. Summed over
   * live workers it is the fleet's observed throughput of a model: the estimates and the
   * deadline order of the queue read it.
   */
  completionRate?: number;
  /** Left as it is when undefined; cleared when null. */
  gpuStats?: GpuStats | null;
  /** The engine's KV-cache use, 0 to 1 (the dashboard shows it); left as it is when undefined, cleared when null. */
  kvCacheUsage?: number | null;
}

/** Refreshes a worker's row and heartbeat. */
export async function heartbeatWorker(db: Executor, h: WorkerHeartbeat): Promise<void> {
  const gpu = h.gpuStats === undefined ? sql`gpu_stats` : sql`${h.gpuStats === null ? null : JSON.stringify(h.gpuStats)}::jsonb`;
  const models = h.engineModels === undefined ? sql`engine_models` : sql`${JSON.stringify(h.engineModels)}::jsonb`;
  const kv =
    h.kvCacheUsage === undefined
      ? sql`kv_cache_usage`
      : sql`${h.kvCacheUsage === null || !Number.isFinite(h.kvCacheUsage) ? null : h.kvCacheUsage}::real`;
  const rate = h.completionRate === undefined || !Number.isFinite(h.completionRate) ? sql`completion_rate` : sql`${h.completionRate}::real`;
  await db.execute(sql`
    update workers set status = ${h.status}, model = ${h.model}, engine_models = ${models}, engine_url = ${h.engineUrl}, capacity = ${h.capacity},
      in_flight = ${h.inFlight}, completed = ${h.completed}, failed = ${h.failed},
      completion_rate = ${rate}, gpu_stats = ${gpu}, kv_cache_usage = ${kv}, heartbeat_at = now()
    where id = ${h.id}`);
}
