import { sql } from 'drizzle-orm';
import type { Executor } from '../db.ts';
import type { GpuStats } from '../tables/workers.ts';

/** What a worker reports on each heartbeat; counters are the process's totals. */
export interface WorkerHeartbeat {
  id: string;
  status: string;
  model: string | null;
  engineUrl: string;
  capacity: number;
  inFlight: number;
  completed: number;
  failed: number;
  /** Left as it is when undefined; cleared when null. */
  gpuStats?: GpuStats | null;
}

/** Refreshes a worker's row and heartbeat. */
export async function heartbeatWorker(db: Executor, h: WorkerHeartbeat): Promise<void> {
  const gpu = h.gpuStats === undefined ? sql`gpu_stats` : sql`${h.gpuStats === null ? null : JSON.stringify(h.gpuStats)}::jsonb`;
  await db.execute(sql`
    update workers set status = ${h.status}, model = ${h.model}, engine_url = ${h.engineUrl}, capacity = ${h.capacity},
      in_flight = ${h.inFlight}, completed = ${h.completed}, failed = ${h.failed}, gpu_stats = ${gpu}, heartbeat_at = now()
    where id = ${h.id}`);
}
