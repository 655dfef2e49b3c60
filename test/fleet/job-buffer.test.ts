import { describe, expect, it } from 'vitest';
import { createJobBuffer, type JobBuffer } from '../../fleet/worker/job-buffer.ts';
import type { Job } from '../../fleet/worker/run-request.ts';
import type { LeasedRequest } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { insertChatBatch } from './helpers.ts';

describe('the job buffer', () => {
  const testDatabase = useTestDatabase();
  let nextId = 0;
  // A body that names no endpoint: the one a job gets can only come from its batch's row.
  const leased = (batchId: string): LeasedRequest => ({
    id: ++nextId,
    batchId,
    line: 1,
    customId: 'req-1',
    model: 'sim-model',
    body: '{}',
    attempts: 1,
    rangeId: nextId,
  });
  const takeAll = (buffer: JobBuffer) => {
    const jobs: Job[] = [];
    for (let job = buffer.take(); job; job = buffer.take()) jobs.push(job);
    return jobs;
  };

  it('remembers the endpoints of the most recent batches only, and reads a forgotten one again', async () => {
    const { database } = testDatabase();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await insertChatBatch(database, { count: 1 }));
    const buffer = createJobBuffer(database, { maxBatches: 4 });
    for (const id of ids) await buffer.add([leased(id)]);
    expect(buffer.batches).toBe(4);
    await buffer.add([leased(ids[0] as string)]);
    expect(buffer.batches).toBe(4);
    const jobs = takeAll(buffer);
    expect(jobs.map((j) => j.batchId)).toEqual([...ids, ids[0]]);
    expect(jobs.map((j) => j.endpoint)).toEqual(Array(7).fill('/v1/chat/completions'));
  });

  it('gives every job its endpoint when one lease holds more batches than it remembers', async () => {
    const { database } = testDatabase();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await insertChatBatch(database, { count: 1 }));
    const buffer = createJobBuffer(database, { maxBatches: 2 });
    await buffer.add(ids.map(leased));
    expect(buffer.batches).toBe(2);
    expect(takeAll(buffer).map((j) => j.endpoint)).toEqual(Array(5).fill('/v1/chat/completions'));
  });
});
