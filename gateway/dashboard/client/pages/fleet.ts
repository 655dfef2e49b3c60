import { align, createChart, type Chart } from '../chart.ts';
import { debounce, showError, type Page } from '../context.ts';
import { h, replace } from '../dom.ts';
import { count } from '../format.ts';
import { FLEET, type FleetSeries, type WorkerLoad } from '../chart-queries.ts';
import { WORKER_EVENTS } from '../queries.ts';

/** The history the throughput and queue charts show. */
const MINUTES = 60;
/** A worker's load is kept in the page for this long (the database keeps no history of it). */
const WORKER_HISTORY_MS = 30 * 60_000;

/** A rate: `0.4/s`, `12/s`, `1,234/s`. */
const rate = (n: number) => `${n < 10 ? Number(n.toFixed(1)) : count(n)}/s`;
/** A share: `0.4%`, `37%` (a decimal below 10%, where a lightly used KV cache stays). */
const percent = (fraction: number) => `${Number((fraction * 100).toFixed(fraction < 0.1 ? 1 : 0))}%`;

interface LoadPoint {
  atMs: number;
  inFlight: number;
  capacity: number;
  kvCacheUsage: number | null;
}

/** Per model, one value of each sample: rates are null where the sample has none (the first, or after a gap). */
function byModel(history: FleetSeries[], value: (p: FleetSeries['points'][number]) => number | null) {
  return align(
    history.map((s) => ({ label: s.model, points: s.points })),
    (p) => new Date(p.at).getTime(),
    value,
  );
}

/**
 * The fleet in pictures: throughput (tokens and requests per second) and queue depth per model
 * over the last hour, from the gateways' samples (`fleetHistory`), and each live worker's
 * requests in flight against its capacity with its engine's KV-cache use, from its heartbeats
 * since the page opened. Read again every few seconds and on worker events.
 */
export const fleet: Page = async ({ api, live }, root, _params, scope) => {
  const lastHour = (): [number, number] => [Date.now() - MINUTES * 60_000, Date.now()];
  const tokens = createChart({
    name: 'tokens',
    title: 'Tokens per second, by model',
    format: rate,
    window: lastHour,
    empty: 'Nothing ran in the last hour.',
  });
  const requests = createChart({
    name: 'requests',
    title: 'Requests per second, by model',
    format: rate,
    window: lastHour,
    empty: 'Nothing ran in the last hour.',
  });
  const queue = createChart({
    name: 'queue',
    title: 'Requests queued, by model',
    format: count,
    integer: true,
    window: lastHour,
    empty: 'Nothing was queued in the last hour.',
  });
  const workerCharts = new Map<string, Chart>();
  const loads = new Map<string, LoadPoint[]>();
  const workersGrid = h('div', { class: 'charts' });
  const workersNote = h('p', { class: 'muted' });
  const error = h('div');
  replace(
    root,
    h('h1', null, 'Fleet'),
    error,
    h(
      'section',
      null,
      h('h2', null, `Throughput and queue, the last ${MINUTES} minutes`),
      h('div', { class: 'charts' }, tokens.element, requests.element, queue.element),
    ),
    h('section', null, h('h2', null, 'Workers'), workersNote, workersGrid),
  );
  scope.add(() => {
    for (const chart of [tokens, requests, queue, ...workerCharts.values()]) chart.destroy();
  });

  function drawWorkers(workers: WorkerLoad[]) {
    const now = Date.now();
    for (const w of workers) {
      const points = loads.get(w.id) ?? [];
      const atMs = new Date(w.heartbeatAt).getTime();
      if (points.at(-1)?.atMs !== atMs) points.push({ atMs, inFlight: w.inFlight, capacity: w.capacity, kvCacheUsage: w.kvCacheUsage });
      while (points.length > 1 && points[0]!.atMs < now - WORKER_HISTORY_MS) points.shift();
      loads.set(w.id, points);
    }
    for (const [id, chart] of workerCharts) {
      if (workers.some((w) => w.id === id)) continue;
      chart.destroy();
      chart.element.remove();
      workerCharts.delete(id);
      loads.delete(id);
    }
    for (const w of workers) {
      let chart = workerCharts.get(w.id);
      if (!chart) {
        chart = createChart({
          name: `worker-${w.id}`,
          title: `${w.host} GPU ${w.gpu} · ${w.model ?? 'no model'}`,
          format: count,
          integer: true,
          right: { range: [0, 1], format: percent },
          empty: 'No heartbeat yet.',
          height: 160,
        });
        chart.element.dataset.worker = w.id;
        workerCharts.set(w.id, chart);
        workersGrid.append(chart.element);
      }
      const points = loads.get(w.id) ?? [];
      chart.update({
        times: points.map((p) => p.atMs),
        lines: [
          { label: 'In flight', values: points.map((p) => p.inFlight), fill: true },
          { label: 'Capacity', values: points.map((p) => p.capacity), dash: true },
          { label: 'KV cache', values: points.map((p) => p.kvCacheUsage), scale: 'right' },
        ],
      });
    }
    replace(
      workersNote,
      workers.length
        ? "Requests in flight against the capacity the worker keeps at its engine, and the engine's KV-cache use (right axis), at each heartbeat since this page opened."
        : 'No workers are running.',
    );
  }

  async function refresh() {
    try {
      const data = await api.graphql<{ fleetHistory: FleetSeries[]; workers: WorkerLoad[] }>(FLEET, { minutes: MINUTES });
      if (scope.closed) return;
      replace(error);
      tokens.update(byModel(data.fleetHistory, (p) => p.tokensPerSecond));
      requests.update(byModel(data.fleetHistory, (p) => p.requestsPerSecond));
      const queued = byModel(data.fleetHistory, (p) => p.queued);
      queue.update({ ...queued, lines: queued.lines.map((line) => ({ ...line, fill: true })) });
      drawWorkers(data.workers);
    } catch (err) {
      showError(error, err);
    }
  }
  const reload = debounce(() => void refresh(), 300);
  scope.add(live.subscribe(WORKER_EVENTS, {}, { next: reload }));
  // Samples come every 10 s and heartbeats every few seconds, without events of their own.
  scope.every(5000, reload);
  await refresh();
};
