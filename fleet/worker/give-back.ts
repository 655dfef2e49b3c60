import { releaseRequests, type ReturnedLeases } from '../../schema/index.ts';
import type { EngineGate } from '../engine/gate.ts';
import type { Holdings } from './holdings.ts';
import type { ResultWriter } from './result-writer.ts';
import type { Job } from './run-request.ts';
import { afterReturnedLeases, type SettleDeps } from './settle.ts';

/** How long a model the engine said it does not serve is left alone (the engine may be restarting with it). */
const MODEL_MISSING_SKIP_MS = 30_000;

/** Options for {@link createGiveBack}. */
export interface GiveBackOptions extends SettleDeps {
  owner: string;
  maxAttempts: number;
  /** The lease time-to-live: results are written for half of it at most before their ranges go back. */
  leaseMs: number;
  holdings: Holdings;
  writer: Pick<ResultWriter, 'flush'>;
  gate: EngineGate;
  /** Closed when the engine refuses the worker's API key. */
  keyAccepted: EngineGate;
  /** Runs a statement once the one before it has ended: the releases and the lease heartbeat take turns. */
  inTurn: <T>(run: () => Promise<T>) => Promise<T>;
}

/** How a worker returns ranges to the queue before their leases run out. */
export interface GiveBack {
  /** Releases ranges (all the worker's when undefined), the attempt refunded or not; resolves to where they went (none when it failed: they expire and are reaped). */
  release(rangeIds: readonly number[] | undefined, refundAttempt: boolean): Promise<ReturnedLeases[]>;
  /** Wakes workers for the requests that went back and settles the batches touched; a failure is logged. */
  publish(returned: readonly ReturnedLeases[]): Promise<void>;
  /** The engine has been unreachable too long: everything held goes back, for workers whose engines answer. */
  handBack(): Promise<void>;
  /** The engine said it does not serve the job's model: every range held of that model goes back, unfailed, and the model is not leased for 30 s. */
  modelMissing(job: Job): Promise<void>;
  /** The engine refused the worker's API key: leasing stops and every range held goes back, attempts refunded. */
  unauthorized(job: Job): Promise<void>;
  /** The models of `models` not skipped after a `modelMissing`. */
  leasable(models: readonly string[]): string[];
}

/** Creates the {@link GiveBack} of a worker. */
export function createGiveBack(options: GiveBackOptions): GiveBack {
  const { database, logger, owner, holdings, writer } = options;

  const release = (rangeIds: readonly number[] | undefined, refundAttempt: boolean) =>
    rangeIds?.length === 0
      ? Promise.resolve([])
      : options
          .inTurn(() =>
            releaseRequests(database.db, {
              owner,
              ...(rangeIds ? { ids: rangeIds } : {}),
              refundAttempt,
              maxAttempts: options.maxAttempts,
            }),
          )
          .catch((err: unknown) => {
            logger.warn('releasing leases failed; they will expire and be reaped', { err, ranges: rangeIds?.length ?? 'all' });
            return [];
          });

  const publish = (returned: readonly ReturnedLeases[]) =>
    afterReturnedLeases(options, returned).catch((err: unknown) => logger.warn('waking workers for the returned requests failed', { err }));

  /**
   * Gives ranges back to the queue: drops every job held of them, writes the results already
   * computed (the next worker skips those lines), then releases them. A range is refunded
   * unless `refund` says otherwise for it.
   */
  const giveBack = async (rangeIds: Iterable<number>, refund: (rangeId: number) => boolean) => {
    const ranges = [...new Set(rangeIds)];
    if (ranges.length === 0) return [];
    holdings.drop(holdings.underLease(ranges));
    await writer.flush(options.leaseMs / 2);
    const returned = [
      ...(await release(ranges.filter(refund), true)),
      ...(await release(
        ranges.filter((r) => !refund(r)),
        false,
      )),
    ];
    await publish(returned);
    return returned;
  };

  /** Models the engine said it does not serve, and until when they are not leased. */
  const missing = new Map<string, number>();

  return {
    release,
    publish,
    /**
     * An engine that stays unreachable must not keep its worker's leases: they are heartbeated,
     * so without this they would wait for it for as long as it is gone, and their batches with them.
     */
    async handBack() {
      const held = holdings.jobs();
      if (held.length === 0) return;
      logger.warn('the engine has been unreachable too long; the requests waiting for it go back to the queue', {
        downMs: options.gate.downForMs(),
        requests: held.length,
      });
      // Never sent, the attempt is refunded; sent to the engine that went down, it counts (that request may be what brings it down).
      const sent = new Set([...holdings.inFlight.values()].filter((e) => e.sent).map((e) => e.job.rangeId));
      await giveBack(
        held.map((j) => j.rangeId),
        (rangeId) => !sent.has(rangeId),
      );
    },
    async modelMissing(job) {
      if (!missing.has(job.model)) {
        logger.warn('the engine does not serve this model; its requests go back to the queue and it is not leased for 30 s', {
          model: job.model,
        });
      }
      missing.set(job.model, Date.now() + MODEL_MISSING_SKIP_MS);
      // Every request of that model would come back the same way: its ranges all go back, unfailed.
      await giveBack(
        [
          job.rangeId,
          ...holdings
            .jobs()
            .filter((j) => j.model === job.model)
            .map((j) => j.rangeId),
        ],
        () => true,
      );
    },
    async unauthorized(job) {
      options.keyAccepted.reportDown();
      await giveBack([job.rangeId, ...holdings.jobs().map((j) => j.rangeId)], () => true);
    },
    leasable: (models) => models.filter((model) => (missing.get(model) ?? 0) < Date.now()),
  };
}
