import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** One point of a model's history: the rates between a sample and the one before it, and the queue at the sample. */
export interface FleetPoint {
  /** The sample's slot, in milliseconds since the epoch. */
  atMs: number;
  /** Rates since the previous sample; null for a sample without one shortly before it (the first, or after a gap). */
  requestsPerSecond: number | null;
  failedPerSecond: number | null;
  /** Prompt and completion tokens, as `batchProgress` counts them. */
  tokensPerSecond: number | null;
  completionTokensPerSecond: number | null;
  /** Lines queued (leasable, not leased) at the sample. */
  queued: number;
}

/** A model's points, oldest first. */
export interface FleetSeries {
  model: string;
  points: FleetPoint[];
}

/** Options for {@link fleetHistory}. */
export interface FleetHistoryOptions {
  /** How far back, in minutes. */
  minutes: number;
  /**
   * Two samples further apart than this (seconds) make no rate: a model is not sampled while
   * it has no work, and what finished in the first seconds of its next batch spread over the
   * idle hours before would be a rate nobody saw.
   */
  maxGapSeconds?: number;
}

/**
 * The fleet's throughput and queue per model over the last `minutes`, from fleet_samples: each
 * rate is the difference of a running total between two consecutive samples of the model over
 * the seconds between them (never negative: a total only falls if ranges were removed).
 */
export async function fleetHistory(db: Executor, { minutes, maxGapSeconds = 60 }: FleetHistoryOptions): Promise<FleetSeries[]> {
  const found = await rows<FleetPoint & { model: string }>(
    db,
    sql`select model, (extract(epoch from at) * 1000)::float8 as "atMs", queued::float8 as "queued",
          case when fresh then greatest(finished - p_finished, 0) / seconds end as "requestsPerSecond",
          case when fresh then greatest(failed - p_failed, 0) / seconds end as "failedPerSecond",
          case when fresh then greatest(prompt_tokens + completion_tokens - p_tokens, 0) / seconds end as "tokensPerSecond",
          case when fresh then greatest(completion_tokens - p_completion, 0) / seconds end as "completionTokensPerSecond"
        from (
          select s.*, extract(epoch from s.at - lag(s.at) over w)::float8 as seconds,
                 extract(epoch from s.at - lag(s.at) over w) between 0.001 and ${maxGapSeconds} as fresh,
                 lag(s.finished) over w as p_finished, lag(s.failed) over w as p_failed,
                 lag(s.prompt_tokens + s.completion_tokens) over w as p_tokens, lag(s.completion_tokens) over w as p_completion
          from fleet_samples s
          where s.at >= now() - make_interval(mins => ${minutes}) - make_interval(secs => ${maxGapSeconds})
          window w as (partition by s.model order by s.at)
        ) x
        where at >= now() - make_interval(mins => ${minutes})
        order by model, at`,
  );
  const byModel = new Map<string, FleetPoint[]>();
  for (const { model, ...point } of found) {
    const points = byModel.get(model) ?? [];
    points.push(point);
    byModel.set(model, points);
  }
  return [...byModel].map(([model, points]) => ({ model, points }));
}
