import { sql } from 'drizzle-orm';
import type { Executor } from '../db.ts';

/** Sets a worker's status (`lost` for a dead predecessor, `stopped` on a clean exit); in-flight drops to 0 unless it is live. */
export async function setWorkerStatus(db: Executor, id: string, status: string): Promise<void> {
  await db.execute(sql`
    update workers set status = ${status},
      in_flight = case when ${status} in ('stopped', 'lost') then 0 else in_flight end, heartbeat_at = now()
    where id = ${id}`);
}
