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
  /** Removes the given requests; returns those that were here. */
  remove(ids: ReadonlySet<number>): number[];
  /** Empties the buffer, returning the ids. */
  clear(): number[];
  ids(): number[];
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
        jobs.push({ id: r.id, batchId: r.batchId, model: r.model, endpoint, body: r.body });
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
    remove(ids) {
      const kept: Job[] = [];
      const removed: number[] = [];
      for (let i = head; i < jobs.length; i++) {
        const job = jobs[i] as Job;
        if (ids.has(job.id)) removed.push(job.id);
        else kept.push(job);
      }
      jobs = kept;
      head = 0;
      return removed;
    },
    clear() {
      const ids = this.ids();
      jobs = [];
      head = 0;
      return ids;
    },
    ids() {
      return jobs.slice(head).map((j) => j.id);
    },
    get size() {
      return jobs.length - head;
    },
    get batches() {
      return endpoints.size;
    },
  };
}
