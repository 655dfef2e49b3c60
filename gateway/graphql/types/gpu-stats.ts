import type { GpuStats } from '../../../schema/index.ts';
import type { Builder } from '../builder.ts';

/** Adds the `GpuStats` type; returns its ref. */
export function defineGpuStats(builder: Builder) {
  return builder.objectRef<GpuStats>('GpuStats').implement({
    description: "A worker's GPU as nvidia-smi last read it.",
    fields: (t) => ({
      memoryUsedMiB: t.exposeFloat('memoryUsedMiB'),
      memoryTotalMiB: t.exposeFloat('memoryTotalMiB'),
      utilizationPercent: t.exposeFloat('utilizationPercent'),
      temperatureC: t.exposeFloat('temperatureC'),
    }),
  });
}
