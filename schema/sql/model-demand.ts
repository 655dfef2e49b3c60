import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { LEASABLE_RANGE } from './lease-requests.ts';
import { OPEN_LINES } from './range-sums.ts';

/** The queue and the fleet as seen by one enabled model of the registry. */
export interface ModelDemand {
  name: string;
  source: string;
  engineArgs: string[];
  maxConcurrency: number | null;
  /** Queued requests (the lines without a result of the ranges a worker may lease), up to 10,000 (enough to compare). */
  queued: number;
  /** How long the request at the head of its queue has waited, in milliseconds (0 when none). */
  waitedMs: number;
  /** Live workers serving (or switching to) it, this worker excluded. */
  servingWorkers: number;
}

/** Each enabled model's demand, for deciding what an engine-owning worker should load. */
export async function modelDemand(db: Executor, { except, liveMs }: { except: string; liveMs: number }): Promise<ModelDemand[]> {
  const found = await rows<Omit<ModelDemand, 'engineArgs'> & { engineArgs: string }>(
    db,
    sql`select m.name, m.source, m.engine_args::text as "engineArgs", m.max_concurrency as "maxConcurrency",
          (select least(10000, coalesce(sum(${OPEN_LINES}), 0))::int
           from request_ranges g join batches b on b.id = g.batch_id
           where g.model = m.name and ${LEASABLE_RANGE}) as "queued",
          coalesce((select (extract(epoch from now() - b.in_progress_at) * 1000)::float8
                    from request_ranges g join batches b on b.id = g.batch_id
                    where g.model = m.name and ${LEASABLE_RANGE}
                    order by g.priority desc, g.id limit 1), 0) as "waitedMs",
          (select count(*)::int from workers w
           where w.model = m.name and w.id <> ${except} and w.status in ('starting', 'ready', 'switching')
             and w.heartbeat_at > now() - make_interval(secs => ${liveMs / 1000})) as "servingWorkers"
        from models m where m.enabled order by m.name`,
  );
  return found.map((m) => ({ ...m, engineArgs: JSON.parse(m.engineArgs) as string[] }));
}
