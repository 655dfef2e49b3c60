import { sql, type SQL } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { LEASABLE_RANGE } from './lease-requests.ts';
import { OPEN_LINES } from './range-sums.ts';

/** Seconds between two samples of the fleet: the slot a sample is written for starts at a multiple of it. */
export const FLEET_SAMPLE_SECONDS = 10;

/**
 * Models sampled per slot at most (the busiest by open lines, then by name): model names come
 * from users' files, so the rows a slot writes stay bounded whatever a file asks for.
 */
export const FLEET_SAMPLE_MODELS = 50;

/**
 * Writes the current slot's sample of the fleet into fleet_samples: per model with work open,
 * or with a range finished within the last hour, the running totals of finished (succeeded and
 * failed) and failed requests and of prompt and completion tokens over its ranges, and the
 * lines queued (leasable, as the lease sees them) at this moment. The slot comes from the
 * database's clock, so every gateway replica names the same one; the first to write it wins
 * (`on conflict do nothing`). Returns the rows written, or `'skipped'` when the slot was
 * already written: then the statement costs one index probe of fleet_samples and never reads
 * request_ranges.
 *
 * The slot check comes first: `taken` holds no column of the sums, so the planner runs it once
 * (an InitPlan) and gates the whole aggregate behind it (a One-Time Filter), which Postgres
 * does not start when the slot is taken. (An anti-join of the aggregate with fleet_samples, as
 * the statement once had, computed the sums over every range first and dropped them after.)
 *
 * The totals are those counted on ranges: the counters a batch row kept from before range
 * leases never change, so they would add nothing to the differences the rates are made of.
 */
export async function sampleFleet(db: Executor, slotSeconds = FLEET_SAMPLE_SECONDS): Promise<number | 'skipped'> {
  const [result] = await rows<{ taken: boolean; written: number }>(db, sampleFleetStatement(slotSeconds));
  return result!.taken ? 'skipped' : result!.written;
}

/** The statement of {@link sampleFleet} (exported for the test that EXPLAINs it). */
export function sampleFleetStatement(slotSeconds: number): SQL {
  return sql`with slot as (select to_timestamp(floor(extract(epoch from now()) / ${slotSeconds}) * ${slotSeconds}) as at),
        taken as (select exists (select 1 from fleet_samples f where f.at = (select at from slot)) as taken),
        written as (
          insert into fleet_samples (at, model, finished, failed, prompt_tokens, completion_tokens, queued)
          select (select at from slot), t.model, t.finished, t.failed, t.prompt_tokens, t.completion_tokens, t.queued
          from (
            select g.model, sum(g.succeeded + g.failed)::bigint as finished, sum(g.failed)::bigint as failed,
                   sum(g.prompt_tokens)::bigint as prompt_tokens, sum(g.completion_tokens)::bigint as completion_tokens,
                   coalesce(sum(${OPEN_LINES}) filter (where ${LEASABLE_RANGE}), 0)::bigint as queued,
                   coalesce(sum(${OPEN_LINES}) filter (where g.finished_at is null), 0) as open
            from request_ranges g left join batches b on b.id = g.batch_id
            where not (select taken from taken)
            group by g.model
            having bool_or(g.finished_at is null or g.finished_at > now() - interval '1 hour')
            order by open desc, g.model
            limit ${FLEET_SAMPLE_MODELS}
          ) t
          on conflict do nothing
          returning model
        )
        select (select taken from taken) as taken, (select count(*) from written)::int as written`;
}

/** Deletes the samples older than `keepSeconds` (a day by default); returns how many. */
export async function pruneFleetSamples(db: Executor, keepSeconds = 24 * 3600): Promise<number> {
  const deleted = await rows<{ at: unknown }>(
    db,
    sql`delete from fleet_samples where at < now() - make_interval(secs => ${keepSeconds}) returning at`,
  );
  return deleted.length;
}
