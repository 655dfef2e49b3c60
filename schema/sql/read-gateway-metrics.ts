import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/**
 * Models named in the requests metric: model names come from users' files, so the busiest
 * ones are labelled and the rest summed under {@link OTHER_MODELS}, keeping the series
 * bounded whatever a file asks for.
 */
export const METRIC_MODELS = 50;

/** The label of the models beyond the {@link METRIC_MODELS} busiest. */
export const OTHER_MODELS = '(other)';

/** One number of the gateway's metrics scrape: which section, a key (model, handler) and a status. */
export interface GatewayMetricRow {
  section: 'requests' | 'batches' | 'totals' | 'handler_runs' | 'workers';
  key: string;
  status: string;
  value: number;
}

/**
 * Everything the gateway's `/metrics` reads from Postgres, in one statement per scrape:
 * queued and leased requests per model (the busiest {@link METRIC_MODELS}; the lines without
 * a result of the open ranges, unleased or leased), batches per status, the finished-request
 * and token totals (the batch rows' counters plus the ranges', never a count over all
 * requests), handler runs per handler and status, workers per model and status.
 */
export function readGatewayMetrics(db: Executor): Promise<GatewayMetricRow[]> {
  return rows<GatewayMetricRow>(
    db,
    sql`
      select 'requests' as section, key, status, sum(n)::float8 as value
        from (select case when dense_rank() over (order by total desc, model) <= ${METRIC_MODELS} then model else ${OTHER_MODELS} end as key, status, n
                from (select model, status, sum(n) as n, sum(sum(n)) over (partition by model) as total
                        from (select model, 'queued' as status, size - succeeded - failed as n
                                from request_ranges where lease_owner is null and finished_at is null
                              union all
                              select model, 'leased', size - succeeded - failed
                                from request_ranges where lease_owner is not null and finished_at is null) open
                        where n > 0
                        group by model, status) counts) labelled
        group by key, status
      union all
      select 'batches', '', status, count(*)::float8 from batches group by status
      union all
      select 'totals', '', v.status, v.value
        from (select sum(completed)::float8 as completed, sum(failed)::float8 as failed,
                     sum(prompt)::float8 as prompt, sum(completion)::float8 as completion
                from (select coalesce(sum(completed), 0) as completed, coalesce(sum(failed), 0) as failed,
                             coalesce(sum(prompt_tokens), 0) as prompt, coalesce(sum(completion_tokens), 0) as completion
                        from batches
                      union all
                      select coalesce(sum(succeeded), 0), coalesce(sum(failed), 0),
                             coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0)
                        from request_ranges) parts) t,
             lateral (values ('completed', t.completed), ('failed', t.failed),
                             ('prompt_tokens', t.prompt), ('completion_tokens', t.completion)) v(status, value)
      union all
      select 'handler_runs', handler, status, count(*)::float8 from handler_runs group by handler, status
      union all
      select 'workers', coalesce(model, ''), status, count(*)::float8 from workers group by model, status`,
  );
}
