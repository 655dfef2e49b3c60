import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { TEST_REDIS_URL } from '../config.ts';
import { BUN, start, type Running } from './processes.ts';

/** A running system (gateway, a worker, the simulator) that clients reach at `url`. */
export interface System {
  url: string;
  /** Everything the processes printed, for a failing test's message. */
  output(): string;
  stop(): Promise<void>;
}

const urlOf = async (process: Running, timeoutMs: number) =>
  (
    (await process.waitFor(/"msg":"(?:gateway|simulated vLLM engine) listening[^\n]*?"url":"(http:[^"]+)"/, timeoutMs)) as unknown as [
      string,
      string,
    ]
  )[1];

async function stopAll(processes: Running[]) {
  await Promise.all(processes.reverse().map((p) => p.stop()));
}

/**
 * Starts `npm start`'s process (scripts/start.ts): gateway, one worker and the simulator in
 * one Bun process on an embedded PGlite database under `dataDir`, as a fresh clone runs it.
 * `env` adds to its environment (SIM_ARGS, API_KEYS, ...).
 */
export async function startEmbeddedSystem(dataDir: string, env: Record<string, string> = {}): Promise<System> {
  const embedded = start(BUN, ['scripts/start.ts'], {
    env: {
      PORT: '0',
      DATA_DIR: dataDir,
      DATABASE_URL: '',
      REDIS_URL: '',
      ENGINE_URL: '',
      ENGINE_CMD: '',
      ENGINE: '',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  try {
    const url = await urlOf(embedded, 60_000);
    return { url, output: embedded.output, stop: () => stopAll([embedded]) };
  } catch (error) {
    await embedded.stop();
    throw error;
  }
}

/**
 * Starts the system as separate Bun processes, as a fleet deployment runs it: the vLLM
 * simulator, a gateway and one worker, on the given Postgres database and the test Redis
 * (under a prefix of their own). `env` goes to the gateway (API_KEYS, ...); the simulator
 * runs slowly enough (40 ms per token, 16 slots: about 10 s for chat-100.jsonl) that a watcher sees a 100-request batch in progress.
 */
export async function startFleetSystem(databaseUrl: string, env: Record<string, string> = {}): Promise<System> {
  // The tests' receivers listen on loopback, which batches may name only where the operator allows it.
  const shared = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `vbs-test:${inject('runId')}:${randomBytes(4).toString('hex')}:`,
    LOG_LEVEL: 'info',
    HANDLER_ALLOWED_HOSTS: '127.0.0.1',
  };
  const processes: Running[] = [];
  try {
    const sim = start(BUN, [
      'fleet/entry/sim.ts',
      '--port',
      '0',
      '--model',
      'sim-model',
      '--slots',
      '16',
      '--ttft-ms',
      '40',
      '--tpot-ms',
      '40',
    ]);
    processes.push(sim);
    const engineUrl = await urlOf(sim, 20_000);
    const gateway = start(BUN, ['gateway/entry/bun.ts'], { env: { ...shared, PORT: '0', HOST: '127.0.0.1', ...env } });
    processes.push(gateway);
    const url = await urlOf(gateway, 30_000);
    const worker = start(BUN, ['fleet/entry/worker.ts'], {
      env: { ...shared, ENGINE_URL: engineUrl, BUN_CONFIG_MAX_HTTP_REQUESTS: '8192' },
    });
    processes.push(worker);
    await worker.waitFor(/"msg":"worker ready"/, 30_000);
    return { url, output: () => processes.map((p) => p.output()).join('\n'), stop: () => stopAll(processes) };
  } catch (error) {
    await stopAll(processes);
    throw error;
  }
}
