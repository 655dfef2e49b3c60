import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** The other live-looking workers registered on one host and GPU: a restarted worker's predecessors. */
export function workersOnGpu(db: Executor, { host, gpu, except }: { host: string; gpu: string; except: string }) {
  return rows<{ id: string; pid: number }>(
    db,
    sql`select id, pid from workers
        where host = ${host} and gpu = ${gpu} and id <> ${except} and status not in ('stopped', 'lost')`,
  );
}
