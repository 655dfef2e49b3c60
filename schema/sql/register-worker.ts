import { sql } from 'drizzle-orm';
import type { Executor } from '../db.ts';

/** A worker process as it registers itself. */
export interface WorkerRegistration {
  id: string;
  host: string;
  gpu: string;
  pid: number;
  runtime: string;
  model: string | null;
  engineUrl: string;
  status: string;
}

/** Registers a worker process (or re-registers it under the same id) with a fresh heartbeat. */
export async function registerWorker(db: Executor, w: WorkerRegistration): Promise<void> {
  await db.execute(sql`
    insert into workers (id, host, gpu, pid, runtime, model, engine_url, status, started_at, heartbeat_at)
    values (${w.id}, ${w.host}, ${w.gpu}, ${w.pid}, ${w.runtime}, ${w.model}, ${w.engineUrl}, ${w.status}, now(), now())
    on conflict (id) do update set host = excluded.host, gpu = excluded.gpu, pid = excluded.pid, runtime = excluded.runtime,
      model = excluded.model, engine_url = excluded.engine_url, status = excluded.status, heartbeat_at = now()`);
}
