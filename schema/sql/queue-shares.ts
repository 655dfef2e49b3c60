import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { LEASABLE_RANGE } from './lease-requests.ts';
import { OPEN_LINES } from './range-sums.ts';

/** One owner's work for one model, and how its slice of the fleet compares with what it is due. */
export interface OwnerShare {
  owner: string;
  /** The owner's fair-share weight (1 unless an administrator set another). */
  weight: number;
  /** Lines without a result in the owner's open ranges that no worker holds. */
  queuedLines: number;
  /** Lines without a result in the owner's ranges that a worker holds (running or about to). */
  inFlightLines: number;
  /** The owner's in-flight lines over every owner's for the model; null while nothing of it is in flight. */
  share: number | null;
  /** What fair share gives the owner: its weight over the weights of the owners with work for the model. */
  fairShare: number;
}

/** The queue of one model: totals over every owner, and the owners' shares. */
export interface ModelQueueShares {
  model: string;
  queuedLines: number;
  inFlightLines: number;
  /** Owners with queued or in-flight lines for the model. */
  activeOwners: number;
  /** The shares of those owners, by owner (only the one asked for, when the caller may see only its own). */
  owners: OwnerShare[];
}

/** Options for {@link queueShares}. */
export interface QueueSharesOptions {
  /** Only this model's queue. */
  model?: string | undefined;
  /** Show only this owner's row (the totals still count everybody): owners see their own share, not each other's. */
  onlyOwner?: string | undefined;
}

/**
 * The fleet's queue per model and owner, as the lease statement's fair share sees it: an
 * owner's due is its weight over the summed weights of the owners with work for the model, and
 * what it gets is its part of the lines workers hold. Lines are counted from the open ranges
 * (`size - succeeded - failed`), in two scans that each follow a partial index of
 * request_ranges (the queue index for unleased ranges, the lease-owner index for held ones),
 * so the cost is that of the open ranges (and a batch lookup per queued one), never of the
 * lines or the finished history.
 */
export async function queueShares(db: Executor, { model, onlyOwner }: QueueSharesOptions = {}): Promise<ModelQueueShares[]> {
  const ofModel = model === undefined ? sql`` : sql`and g.model = ${model}`;
  const found = await rows<{ model: string; owner: string; weight: number; queued: number; inFlight: number }>(
    db,
    sql`select w.model, w.owner, coalesce(ow.weight, 1) as "weight",
               sum(w.queued)::float8 as "queued", sum(w.in_flight)::float8 as "inFlight"
        from (
          -- Queued as the lease sees it: only batches it may take (running, not paused, window not over), not
          -- the ranges of one being cancelled or past its window that settle will close.
          select g.model, g.owner, ${OPEN_LINES} as queued, 0 as in_flight
          from request_ranges g join batches b on b.id = g.batch_id
          where ${LEASABLE_RANGE} ${ofModel}
          union all
          select g.model, g.owner, 0, ${OPEN_LINES}
          from request_ranges g where g.lease_owner is not null and g.finished_at is null ${ofModel}
        ) w
        left join owner_weights ow on ow.owner = w.owner
        group by w.model, w.owner, ow.weight
        having sum(w.queued) + sum(w.in_flight) > 0
        order by w.model, w.owner`,
  );
  const byModel = new Map<string, typeof found>();
  for (const row of found) byModel.set(row.model, [...(byModel.get(row.model) ?? []), row]);
  return [...byModel].map(([name, owners]) => {
    const inFlightLines = owners.reduce((n, o) => n + o.inFlight, 0);
    const weights = owners.reduce((n, o) => n + o.weight, 0);
    return {
      model: name,
      queuedLines: owners.reduce((n, o) => n + o.queued, 0),
      inFlightLines,
      activeOwners: owners.length,
      owners: owners
        .filter((o) => onlyOwner === undefined || o.owner === onlyOwner)
        .map((o) => ({
          owner: o.owner,
          weight: o.weight,
          queuedLines: o.queued,
          inFlightLines: o.inFlight,
          share: inFlightLines > 0 ? o.inFlight / inFlightLines : null,
          fairShare: o.weight / weights,
        })),
    };
  });
}
