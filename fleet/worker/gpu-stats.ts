import { execFile } from 'node:child_process';
import type { GpuStats } from '../../schema/index.ts';

const QUERY = ['--query-gpu=index,memory.used,memory.total,utilization.gpu,temperature.gpu', '--format=csv,noheader,nounits'];

/** Parses `nvidia-smi --query-gpu=index,memory.used,memory.total,utilization.gpu,temperature.gpu --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(text: string): Map<string, GpuStats> {
  const out = new Map<string, GpuStats>();
  for (const line of text.split('\n')) {
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length < 5) continue;
    const [index, used, total, util, temp] = cells.map(Number);
    if (![index, used, total].every(Number.isFinite)) continue;
    out.set(String(index), {
      memoryUsedMiB: used as number,
      memoryTotalMiB: total as number,
      utilizationPercent: Number.isFinite(util) ? (util as number) : 0,
      temperatureC: Number.isFinite(temp) ? (temp as number) : 0,
    });
  }
  return out;
}

/** Runs nvidia-smi; resolves to its output, or null when it is absent or fails. */
export type NvidiaSmiRunner = () => Promise<string | null>;

const runNvidiaSmi: NvidiaSmiRunner = () =>
  new Promise((resolve) => {
    execFile('nvidia-smi', QUERY, { timeout: 5000 }, (error, stdout) => resolve(error ? null : stdout));
  });

/**
 * Reads one GPU's memory, utilization and temperature from nvidia-smi, at most every
 * `minIntervalMs` (the call costs tens of milliseconds). Where nvidia-smi is absent (no
 * GPU, or the simulator) the reading is null and nvidia-smi is not tried again.
 */
export function createGpuStatsReader(
  gpu: string,
  { minIntervalMs = 10_000, run = runNvidiaSmi }: { minIntervalMs?: number; run?: NvidiaSmiRunner } = {},
) {
  let absent = false;
  let last: GpuStats | null = null;
  let readAt = 0;
  return async (): Promise<GpuStats | null> => {
    if (absent || Date.now() - readAt < minIntervalMs) return last;
    readAt = Date.now();
    const text = await run();
    if (text === null) {
      absent = last === null;
      return last;
    }
    last = parseNvidiaSmi(text).get(gpu) ?? null;
    return last;
  };
}
