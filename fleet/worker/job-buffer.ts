import { batchEndpoints, type Database, type LeasedRequest } from '../../schema/index.ts';
import type { Job } from './run-request.ts';

/**
 * Leased requests waiting for an engine slot, in lease order, each with the endpoint of its
 * batch (looked up once per batch and remembered: a batch's endpoint never changes).
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
}

/** The endpoint a body's shape implies, for requests whose batch row is gone. */
function guessEndpoint(body: string): string {
  if (body.includes('"messages"')) return '/v1/chat/completions';
  if (body.includes('"prompt"')) return '/v1/completions';
  return '/v1/embeddings';
}

/** Creates the buffer. */
export function createJobBuffer(database: Database): JobBuffer {
  const endpoints = new Map<string, string>();
  let jobs: Job[] = [];
  let head = 0;
  return {
    async add(leased) {
      const unknown = [...new Set(leased.map((r) => r.batchId))].filter((id) => !endpoints.has(id));
      if (unknown.length) {
        for (const { id, endpoint } of await batchEndpoints(database.db, unknown)) endpoints.set(id, endpoint);
      }
      for (const r of leased) {
        const endpoint = endpoints.get(r.batchId) ?? guessEndpoint(r.body);
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
  };
}
