import { releaseRequests, setWorkerStatus, workersOnGpu } from '../../schema/index.ts';
import { afterReturnedLeases, type SettleDeps } from './settle.ts';

/**
 * Returns a dead worker's leases to the queue at once, instead of when they expire, and marks
 * it `lost`. The attempt is not refunded: the request may be what killed it. Resolves to the
 * number of requests that went back.
 */
export async function releaseDeadWorker(deps: SettleDeps, workerId: string, maxAttempts: number): Promise<number> {
  const returned = await releaseRequests(deps.database.db, { owner: workerId, refundAttempt: false, maxAttempts });
  await setWorkerStatus(deps.database.db, workerId, 'lost');
  await afterReturnedLeases(deps, returned);
  return returned.reduce((n, r) => n + r.n, 0);
}

/** Options for {@link releaseDeadPredecessors}: the starting worker and where it runs. */
export interface PredecessorOptions {
  id: string;
  host: string;
  gpu: string;
  maxAttempts: number;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Releases the leases of the workers registered before this one on the same host and GPU whose
 * process is gone (a worker started without a supervisor, or one whose supervisor died too).
 */
export async function releaseDeadPredecessors(deps: SettleDeps, { id, host, gpu, maxAttempts }: PredecessorOptions): Promise<void> {
  for (const predecessor of await workersOnGpu(deps.database.db, { host, gpu, except: id })) {
    if (predecessor.pid !== process.pid && alive(predecessor.pid)) continue;
    const requests = await releaseDeadWorker(deps, predecessor.id, maxAttempts);
    deps.logger.info('released the leases of a dead predecessor on this GPU', { predecessor: predecessor.id, requests });
  }
}
