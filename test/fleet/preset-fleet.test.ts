import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, freePort, start, type Running } from '../helpers/processes.ts';
import { answeredIds, expectedIds, FAST_WORKER_ENV, insertChatBatch, waitForBatch } from './helpers.ts';

describe('a fleet started with --engine vllm', () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  it("serves a registry model whose name differs from its source, with its max_concurrency as the engine's slots", async () => {
    const { database, url } = test();
    // The simulator's timings are not vLLM flags: they stand where a model's own engine_args would.
    const engineArgs = JSON.stringify(['--max-model-len', '4096', '--ttft-ms', '5', '--tpot-ms', '1', '--output-tokens', '16']);
    await database.db.execute(
      sql`insert into models (name, source, engine_args, max_concurrency) values ('preset-model', 'org/Preset-7B', ${engineArgs}::jsonb, 8)`,
    );
    const batchId = await insertChatBatch(database, { count: 40, model: 'preset-model' });
    const port = await freePort();
    const supervisor = start(BUN, ['fleet/entry/supervisor.ts', '--gpus', '0', '--engine', 'vllm', '--engine-port', String(port)], {
      env: { ...FAST_WORKER_ENV, DATABASE_URL: url, VLLM_BIN: `${BUN} fleet/entry/sim.ts` },
    });
    processes.push(supervisor);
    try {
      expect(await waitForBatch(database, batchId, ['completed'], 30_000)).toBe('completed');
    } catch (error) {
      throw new Error(`${String(error)}\n--- supervisor, worker and engine log (tail) ---\n${supervisor.output().slice(-8000)}`);
    }
    expect(await answeredIds(database, batchId)).toEqual(expectedIds(40));
    const models = (await (await fetch(`http://127.0.0.1:${port}/v1/models`)).json()) as { data: { id: string; root: string }[] };
    expect(models.data.map((m) => [m.id, m.root])).toEqual([['preset-model', 'org/Preset-7B']]);
    expect(supervisor.output()).toContain(
      `"command":"${BUN} fleet/entry/sim.ts serve org/Preset-7B --served-model-name preset-model --port ${port} --host 127.0.0.1 --max-num-seqs 8 --max-model-len 4096`,
    );
    expect(await supervisor.stop('SIGTERM')).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});
