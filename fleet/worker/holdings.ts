import type { WorkerMetrics } from './metrics.ts';
import type { LeasedRequest } from '../../schema/index.ts';
import type { JobBuffer } from './job-buffer.ts';
import type { HeldRanges } from './lease-heartbeat.ts';
import type { ResultWriter } from './result-writer.ts';
import type { Job } from './run-request.ts';

/** A request in flight: its task's abort, its job, and how its current call stands. */
export interface InFlight {
  controller: AbortController;
  job: Job;
  /** performance.now() when its current call was sent. */
  startedAt: number;
  answering: boolean;
  atEngine: boolean;
  /** True once any call of it went to the engine. */
  sent: boolean;
}

/** Options for {@link createHoldings}. */
export interface HoldingsOptions {
  buffer: JobBuffer;
  writer: Pick<ResultWriter, 'pending' | 'ranges'>;
  metrics?: WorkerMetrics | undefined;
}

/**
 * What a worker holds of the queue: requests in flight, requests buffered, and the lease each
 * held range came with (numbered by lease statement). Work is held, extended and given back
 * by range.
 */
export interface Holdings {
  /** Requests in flight: whether a call of each is at the engine now, since when, and whether the engine has started answering it (its first event). */
  readonly inFlight: Map<number, InFlight>;
  /** Requests leased and waiting for a slot. */
  readonly buffer: JobBuffer;
  /** Buffers the requests of one lease statement, each range under the new lease. */
  add(leased: readonly LeasedRequest[]): Promise<void>;
  /**
   * How many requests the worker holds: in flight, buffered, and answered but not yet written.
   * The database counts a line as this worker's until its result is written, so a line answered
   * but unwritten still takes up the worker's share of its batch.
   */
  count(): number;
  /** The jobs held now: in flight and buffered. */
  jobs(): Job[];
  /** The given ranges, each with the lease it is held under now. */
  underLease(rangeIds: Iterable<number>): HeldRanges;
  /** The ranges of the jobs held now, each with the lease it came with. */
  ranges(): HeldRanges;
  /** Aborts the held jobs (in flight or buffered) of the given ranges, each if still held under the same lease; returns how many. */
  drop(ranges: HeldRanges): number;
  /** Forgets the leases of ranges nothing is held of any more (finished, dropped): a worker lives for weeks. */
  forgetLeases(): void;
}

/** Creates the {@link Holdings} of a worker. */
export function createHoldings({ buffer, writer, metrics }: HoldingsOptions): Holdings {
  const inFlight = new Map<number, InFlight>();
  /**
   * The lease each held range came with: a heartbeat that finds a range gone drops its jobs
   * only if the range was not leased again meanwhile.
   */
  const leases = new Map<number, number>();
  let leaseNumber = 0;
  /** The lease whose requests are on their way into the buffer (their endpoints are being read), or 0. */
  let arriving = 0;

  const jobs = (): Job[] => [...[...inFlight.values()].map((e) => e.job), ...buffer.jobs()];
  const underLease = (rangeIds: Iterable<number>): HeldRanges =>
    new Map([...rangeIds].map((rangeId) => [rangeId, leases.get(rangeId) ?? 0]));
  const ranges = (): HeldRanges => underLease(jobs().map((job) => job.rangeId));

  return {
    inFlight,
    buffer,
    async add(leased) {
      const lease = ++leaseNumber;
      for (const request of leased) leases.set(request.rangeId, lease);
      arriving = lease;
      try {
        await buffer.add(leased);
      } finally {
        arriving = 0;
      }
    },
    count: () => inFlight.size + buffer.size + writer.pending,
    jobs,
    underLease,
    ranges,
    drop(held) {
      const current = new Set([...held].filter(([rangeId, lease]) => (leases.get(rangeId) ?? 0) === lease).map(([rangeId]) => rangeId));
      if (current.size === 0) return 0;
      let dropped = buffer.remove(current).length;
      for (const [requestId, entry] of inFlight) {
        if (!current.has(entry.job.rangeId)) continue;
        entry.controller.abort();
        inFlight.delete(requestId);
        dropped++;
      }
      for (const rangeId of current) leases.delete(rangeId);
      metrics?.inFlight.set({}, inFlight.size);
      return dropped;
    },
    forgetLeases() {
      const live = new Set([...ranges().keys(), ...writer.ranges()]);
      for (const [rangeId, lease] of leases) if (lease !== arriving && !live.has(rangeId)) leases.delete(rangeId);
    },
  };
}
