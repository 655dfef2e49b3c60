import type { Api } from './api.ts';
import { createChart } from './chart.ts';
import type { Scope } from './context.ts';
import { count } from './format.ts';
import { PROGRESS_CURVE, type ProgressCurve } from './chart-queries.ts';

/** The curve is read again at most this often while progress events come (several a second on a busy batch). */
const REFRESH_MS = 2000;

/**
 * A batch's progress curve: requests run over time (and failed) from its start, and a dashed
 * line from the latest count to the total at the estimated finish (`Batch.progressCurve`).
 * `refreshSoon` reads it again, at most every {@link REFRESH_MS}, for each progress event.
 */
export function createBatchCurve(api: Api, id: string, scope: Scope) {
  let total = 0;
  const chart = createChart({
    name: 'progress',
    title: 'Requests run',
    format: count,
    integer: true,
    range: () => (total > 0 ? [0, total] : null),
    empty: 'The curve starts when the batch runs.',
    latestOf: 0,
  });
  scope.add(() => chart.destroy());
  let reading: Promise<void> | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastAt = 0;
  scope.add(() => clearTimeout(timer));

  async function read() {
    lastAt = Date.now();
    const { batch } = await api.graphql<{ batch: { progressCurve: ProgressCurve } | null }>(PROGRESS_CURVE, { id });
    if (!batch || scope.closed) return;
    const curve = batch.progressCurve;
    total = curve.total;
    if (!curve.startedAt) return chart.update({ times: [], lines: [] });
    const points = curve.points.map((p) => ({ atMs: new Date(p.at).getTime(), finished: p.finished, failed: p.failed }));
    const times = [new Date(curve.startedAt).getTime(), ...points.map((p) => p.atMs)];
    const done: (number | null)[] = [0, ...points.map((p) => p.finished)];
    const failed: (number | null)[] = [0, ...points.map((p) => p.failed)];
    const estimate: (number | null)[] = times.map(() => null);
    const eta = curve.estimatedCompletionAt ? new Date(curve.estimatedCompletionAt).getTime() : null;
    if (eta !== null && eta > (times.at(-1) ?? 0)) {
      estimate[estimate.length - 1] = done.at(-1) ?? 0;
      times.push(eta);
      done.push(null);
      failed.push(null);
      estimate.push(total);
    }
    chart.update({
      times,
      lines: [
        { label: 'Done', values: done, fill: true },
        { label: 'Failed', values: failed },
        { label: 'Estimate', values: estimate, dash: true },
      ],
    });
  }

  /** Reads the curve now (after a read under way). */
  const refresh = (): Promise<void> => {
    reading ??= read()
      .catch(() => {})
      .finally(() => {
        reading = null;
      });
    return reading;
  };

  return {
    element: chart.element,
    refresh,
    /** Reads the curve again soon: now, or once {@link REFRESH_MS} have passed since the last read. */
    refreshSoon() {
      if (timer !== undefined) return;
      timer = setTimeout(
        () => {
          timer = undefined;
          void refresh();
        },
        Math.max(0, lastAt + REFRESH_MS - Date.now()),
      );
    },
  };
}
