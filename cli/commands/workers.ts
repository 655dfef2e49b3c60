import { writeJson, type Command } from '../command.ts';
import { EXIT } from '../exit-codes.ts';
import { formatAge, formatCount, formatTable } from '../format.ts';

interface WorkerView {
  id: string;
  host: string;
  gpu: string;
  model: string | null;
  status: string;
  runtime: string;
  engineUrl: string;
  capacity: number;
  inFlight: number;
  completed: number;
  failed: number;
  heartbeatAt: string;
  startedAt: string;
  gpuStats: { utilizationPercent: number; memoryUsedMiB: number; memoryTotalMiB: number; temperatureC: number } | null;
}

const QUERY = `query ($all: Boolean!) { workers(includeStopped: $all) {
  id host gpu model status runtime engineUrl capacity inFlight completed failed heartbeatAt startedAt
  gpuStats { utilizationPercent memoryUsedMiB memoryTotalMiB temperatureC } } }`;

const gpuText = (w: WorkerView) =>
  w.gpuStats
    ? `${w.gpu} ${Math.round(w.gpuStats.utilizationPercent)}% ${Math.round(w.gpuStats.memoryUsedMiB)}/${Math.round(w.gpuStats.memoryTotalMiB)} MiB`
    : w.gpu;

/** `vbs workers`. */
export const workers: Command = {
  name: 'workers',
  summary: 'List the fleet: GPU, model, status and heartbeat of each worker',
  usage: `vbs workers [--all] [--json]

One line per live worker process (one per GPU): host, GPU (with utilisation and memory
when nvidia-smi reports them), the model loaded, status, requests in flight out of the
engine's capacity, requests finished, and the last heartbeat. --all includes stopped ones.`,
  options: { all: { type: 'boolean' } },
  positionals: [0, 0],
  async run({ client, stdout, json }, { values }) {
    const { workers: list } = await client.graphql<{ workers: WorkerView[] }>(QUERY, { all: values.all === true });
    if (json) writeJson(stdout, list);
    else if (!list.length) stdout.write('No workers are running. `npm start` runs one; see docs/architecture.md for the fleet.\n');
    else {
      const rows = list.map((w) => [
        w.id,
        w.host,
        gpuText(w),
        w.model ?? '-',
        w.status,
        `${w.inFlight}/${w.capacity}`,
        formatCount(w.completed),
        formatCount(w.failed),
        formatAge(w.heartbeatAt),
      ]);
      stdout.write(formatTable(['ID', 'HOST', 'GPU', 'MODEL', 'STATUS', 'IN FLIGHT', 'DONE', 'FAILED', 'HEARTBEAT'], rows));
    }
    return EXIT.OK;
  },
};
