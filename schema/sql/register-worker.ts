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
  /** The application_name of its own connections (see `workerConnectionName`); null when it shares another process's. */
  connectionName?: string | null;
}

/** Registers a worker process (or re-registers it under the same id) with a fresh heartbeat. */
export async function registerWorker(db: Executor, w: WorkerRegistration): Promise<void> {
  await db.execute(sql`
    insert into workers (id, host, gpu, pid, runtime, model, engine_url, status, connection_name, started_at, heartbeat_at)
    values (${w.id}, ${w.host}, ${w.gpu}, ${w.pid}, ${w.runtime}, ${w.model}, ${w.engineUrl}, ${w.status}, ${w.connectionName ?? null}, now(), now())
    on conflict (id) do update set host = excluded.host, gpu = excluded.gpu, pid = excluded.pid, runtime = excluded.runtime,
      model = excluded.model, engine_url = excluded.engine_url, status = excluded.status, connection_name = excluded.connection_name,
      heartbeat_at = now()`);
}
