import { debounce, showError, type Page } from '../context.ts';
import { badge, h, replace, table } from '../dom.ts';
import { ago, count } from '../format.ts';
import { WORKER_EVENTS, WORKERS, type Worker } from '../queries.ts';

/** A heartbeat older than this is shown as late (workers beat every few seconds). */
const LATE_MS = 15_000;

const gpu = (w: Worker) =>
  w.gpuStats
    ? h(
        'span',
        null,
        w.gpu,
        h('br'),
        h(
          'small',
          null,
          `${Math.round(w.gpuStats.utilizationPercent)}% · ${count(w.gpuStats.memoryUsedMiB)}/${count(w.gpuStats.memoryTotalMiB)} MiB · ${Math.round(w.gpuStats.temperatureC)}°C`,
        ),
      )
    : w.gpu;

/** The fleet: one row per worker process (one per GPU) with its model, load and heartbeat, live. */
export const workers: Page = async ({ api, live }, root, params, scope) => {
  const all = h('input', { type: 'checkbox', name: 'all', checked: params.all === '1' });
  all.addEventListener('change', () => (location.hash = all.checked ? '#/workers?all=1' : '#/workers'));
  const list = h('div');
  replace(root, h('h1', null, 'Workers'), h('label', { class: 'filters' }, all, ' include stopped workers'), list);
  let shown: Worker[] = [];

  const draw = () =>
    replace(
      list,
      table(
        ['Worker', 'Host', 'GPU', 'Model', 'Status', 'In flight', 'KV cache', 'Done', 'Failed', 'Runtime', 'Heartbeat'],
        shown.map((w) => [
          h('code', null, w.id),
          w.host,
          gpu(w),
          w.model ?? '-',
          badge(w.status),
          `${w.inFlight}/${w.capacity}`,
          w.kvCacheUsage === null ? '-' : `${Number((w.kvCacheUsage * 100).toFixed(w.kvCacheUsage < 0.1 ? 1 : 0))}%`,
          count(w.completed),
          count(w.failed),
          `${w.runtime} (pid ${w.pid})`,
          h(
            'span',
            { class: Date.now() - new Date(w.heartbeatAt).getTime() > LATE_MS && w.status !== 'stopped' ? 'late' : '' },
            ago(w.heartbeatAt),
          ),
        ]),
        'No workers are running.',
        { 'data-table': 'workers' },
      ),
    );

  async function refresh() {
    try {
      ({ workers: shown } = await api.graphql<{ workers: Worker[] }>(WORKERS, { all: all.checked }));
      if (!scope.closed) draw();
    } catch (error) {
      showError(list, error);
    }
  }
  const reload = debounce(() => void refresh(), 300);
  scope.add(live.subscribe(WORKER_EVENTS, {}, { next: reload }));
  // Heartbeats and counters change without events: read again every few seconds, redraw the ages every second.
  scope.every(5000, reload);
  scope.every(1000, draw);
  await refresh();
};
