import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../helpers/processes.ts';
import { startSim, startWorker, waitForBatch } from '../fleet/helpers.ts';
import {
  ALL,
  B,
  endedBatches,
  expectFinished,
  FINAL_STATUS,
  MODEL_B,
  upgradedDatabase,
  type BatchObject,
  type Upgraded,
} from './upgrade-previous-batches.ts';

// The previous release's database (upgrade-previous-batches.ts) migrated, then started on as an
// operator does after the upgrade: a gateway of the new release (in-process) and a worker
// process of the new release on a simulator serving both models. Postgres only: the worker is
// another process.
describe('a deployment of the release before range leases, restarted on the new release', () => {
  let upgraded: Upgraded;
  const processes: Running[] = [];
  beforeAll(async () => {
    upgraded = await upgradedDatabase('postgres');
  }, 60_000);
  afterAll(async () => {
    for (const p of processes.reverse()) await p.stop();
    await upgraded?.close();
  });

  it('finishes every batch the old release left with nothing lost: each line once in its files, in input order', async () => {
    const ended = await endedBatches(upgraded);
    await upgraded.app.validator.sweep();
    const sim = await startSim(['--served-model-name', 'sim-model', MODEL_B]);
    processes.push(sim.process);
    processes.push(await startWorker({ DATABASE_URL: upgraded.url!, ENGINE_URL: sim.url }));
    await upgraded.app.validator.idle();
    expect((await upgraded.get<BatchObject>(`/v1/batches/${B.validating}`)).status).not.toBe('validating');
    for (const id of ALL) expect(await waitForBatch(upgraded.database, id, [FINAL_STATUS[id]!], 60_000), id).toBe(FINAL_STATUS[id]);
    await expectFinished(upgraded, ended);
  }, 120_000);
});
