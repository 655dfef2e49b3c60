// One step of the fleet-scale run: a supervisor with several simulated GPUs, all served by one simulator process.
import { spawnBun, type Child } from './support.ts';

/** The simulated GPUs' timing and size, and how many a supervisor runs. */
export interface FleetStepSizes {
  slots: number;
  outputTokens: number;
  tpotMs: number;
  ttftMs: number;
  /** The dimension of the simulator's embeddings (0: its default). */
  embeddingDim: number;
}

/** A running supervisor, its workers and its simulator. */
export interface FleetStep {
  workerPids: number[];
  simulatorPid: number;
  /** Each worker's /metrics. */
  metricsUrls: string[];
  /** Workers that exited unasked so far (the supervisor restarts them). */
  exits(): number;
  /** The supervisor's log, its workers' included. */
  output(): string;
  stopSupervisor(): Promise<void>;
  stopSimulator(): Promise<void>;
}

const READY_TIMEOUT_MS = 120_000;

/**
 * Starts a simulator with `gpus` × `slots` sequences, without load gauges (a shared engine's
 * gauges would mislead each worker), then a supervisor whose `gpus` workers all send to it, each
 * told its engine's `slots` (ENGINE_MAX_NUM_SEQS) and serving /metrics on a port of its own.
 * Resolves once every worker is ready.
 */
export async function startFleetStep({
  url,
  index,
  gpus,
  sizes,
}: {
  url: string;
  index: number;
  gpus: number;
  sizes: FleetStepSizes;
}): Promise<FleetStep> {
  const sim = spawnBun(
    [
      'fleet/entry/sim.ts',
      '--port',
      '0',
      '--max-num-seqs',
      String(gpus * sizes.slots),
      '--max-num-batched-tokens',
      String(Math.max(8192, gpus * sizes.slots * 64)),
      '--tpot-ms',
      String(sizes.tpotMs),
      '--ttft-ms',
      String(sizes.ttftMs),
      '--output-tokens',
      String(sizes.outputTokens),
      ...(sizes.embeddingDim > 0 ? ['--embedding-dim', String(sizes.embeddingDim)] : []),
      '--disable-log-stats',
    ],
    {},
  );
  let supervisor: Child | undefined;
  try {
    const [, simUrl] = (await sim.waitFor(/"url":"(http:[^"]+)"/)) as unknown as [string, string];
    // Ports of its own per run and supervisor, below Linux's ephemeral range (32768-60999): the
    // workers' thousands of streams to the simulator take local ports there, which a listener cannot bind.
    const metricsPort = 12_000 + ((process.pid * 37 + index * 16) % 12_000);
    supervisor = spawnBun(
      [
        'fleet/entry/supervisor.ts',
        '--gpus',
        Array.from({ length: gpus }, (_, i) => String(i)).join(','),
        '--engine-url',
        Array(gpus).fill(simUrl).join(','),
        '--host',
        `bench-host-${index}`,
        '--metrics-port',
        String(metricsPort),
      ],
      { DATABASE_URL: url, LOG_LEVEL: 'info', ENGINE_MAX_NUM_SEQS: String(sizes.slots) },
    );
    const child = supervisor;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while ((child.output().match(/"msg":"worker ready"/g) ?? []).length < gpus) {
      if (child.process.exitCode !== null)
        throw new Error(`supervisor ${index} exited (${child.process.exitCode}):\n${child.output().slice(-4000)}`);
      if (Date.now() > deadline)
        throw new Error(`supervisor ${index}'s workers were not ready in ${READY_TIMEOUT_MS / 1000} s:\n${child.output().slice(-4000)}`);
      await Bun.sleep(100);
    }
    const workerPids = [...child.output().matchAll(/"msg":"worker started"[^\n]*?"pid":(\d+)/g)].map((m) => Number(m[1]));
    return {
      workerPids,
      simulatorPid: sim.process.pid,
      metricsUrls: Array.from({ length: gpus }, (_, i) => `http://127.0.0.1:${metricsPort + i}/metrics`),
      exits: () => (child.output().match(/"msg":"worker exited"/g) ?? []).length,
      output: () => child.output(),
      stopSupervisor: async () => void (await child.stop()),
      stopSimulator: async () => void (await sim.stop()),
    };
  } catch (error) {
    await supervisor?.stop();
    await sim.stop();
    throw error;
  }
}
