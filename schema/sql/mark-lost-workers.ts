import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** A worker whose heartbeat stopped. */
export interface LostWorker {
  id: string;
  host: string;
  gpu: string;
  model: string | null;
}

/** Marks `lost` the live workers whose heartbeat is older than `staleMs`, and returns them (once). */
export function markLostWorkers(db: Executor, { staleMs }: { staleMs: number }) {
  return rows<LostWorker>(
    db,
    sql`update workers set status = 'lost', in_flight = 0
        where status not in ('stopped', 'lost') and heartbeat_at < now() - make_interval(secs => ${staleMs / 1000})
        returning id, host, gpu, model`,
  );
}
