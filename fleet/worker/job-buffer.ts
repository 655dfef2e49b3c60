import { batchEndpoints, type Database, type LeasedRequest } from '../../schema/index.ts';
import type { Job } from './run-request.ts';

/**
 * Leased requests waiting for an engine slot, in lease order, each with the endpoint of its
 * batch (looked up once per batch and remembered, for the most recent batches: a batch's
 * endpoint never changes).
 */
export interface JobBuffer {
  /** Adds leased requests, resolving the endpoints of batches not seen before. */
  add(leased: readonly LeasedRequest[]): Promise<void>;
  take(): Job | undefined;
  /** Removes the jobs of the given ranges; returns them. */
  remove(rangeIds: ReadonlySet<number>): Job[];
  /** The jobs waiting, in lease order. */
  jobs(): Job[];
  readonly size: number;
  /** Batches whose endpoint is remembered now (at most `maxBatches`). */
  readonly batches: number;
}

/** Options for {@link createJobBuffer}. */
export interface JobBufferOptions {
  /** Endpoints of this many batches, the most recently leased, are remembered. */
  maxBatches?: number;
}

/** The endpoint a body's shape implies, for requests whose batch row is gone. */
function guessEndpoint(body: string): string {
  if (body.includes('"messages"')) return '/v1/chat/completions';
  if (body.includes('"prompt"')) return '/v1/completions';
  return '/v1/embeddings';
}

/** Creates the buffer. */
export function createJobBuffer(database: Database, { maxBatches = 1024 }: JobBufferOptions = {}): JobBuffer {
  // Least recently leased first. A worker lives for weeks and sees every batch once: remembering
  // them all would grow by one entry per batch for ever; one forgotten is just read again.
  const endpoints = new Map<string, string>();
  const remember = (batchId: string, endpoint: string) => {
    endpoints.delete(batchId);
    endpoints.set(batchId, endpoint);
    for (const oldest of endpoints.keys()) {
      if (endpoints.size <= maxBatches) break;
      endpoints.delete(oldest);
    }
  };
  let jobs: Job[] = [];
  let head = 0;
  return {
    async add(leased) {
      const found = new Map<string, string>();
      const unknown: string[] = [];
      for (const batchId of new Set(leased.map((r) => r.batchId))) {
        const endpoint = endpoints.get(batchId);
        if (endpoint === undefined) unknown.push(batchId);
        else found.set(batchId, endpoint);
      }
      if (unknown.length) {
        for (const { id, endpoint } of await batchEndpoints(database.db, unknown)) found.set(id, endpoint);
      }
      for (const [batchId, endpoint] of found) remember(batchId, endpoint);
      for (const r of leased) {
        const endpoint = found.get(r.batchId) ?? guessEndpoint(r.body);
        jobs.push({ id: r.id, rangeId: r.rangeId, batchId: r.batchId, line: r.line, model: r.model, endpoint, body: r.body });
      }
    },
    take() {
      const job = jobs[head];
      if (!job) return undefined;
      jobs[head++] = undefined as unknown as Job;
      if (head > 256 && head * 2 > jobs.length) {
        jobs = jobs.slice(head);
        head = 0;
      }
      return job;
    },
    remove(rangeIds) {
      const kept: Job[] = [];
      const removed: Job[] = [];
      for (let i = head; i < jobs.length; i++) {
        const job = jobs[i] as Job;
        if (rangeIds.has(job.rangeId)) removed.push(job);
        else kept.push(job);
      }
      jobs = kept;
      head = 0;
      return removed;
    },
    jobs() {
      return jobs.slice(head);
    },
    get size() {
      return jobs.length - head;
    },
    get batches() {
      return endpoints.size;
    },
  };
}
