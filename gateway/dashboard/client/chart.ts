import uPlot from 'uplot';
import { h, replace } from './dom.ts';

/** One line of a chart: its label, values at the chart's times (null: no value there), and how it is drawn. */
export interface Line {
  label: string;
  values: (number | null)[];
  /** Another y scale than the chart's first (e.g. a percentage beside counts), drawn on a right-hand axis. */
  scale?: 'right';
  dash?: boolean;
  /** Filled down to zero. */
  fill?: boolean;
}

/** What a chart shows: times in milliseconds since the epoch, and lines with one value per time. */
export interface ChartData {
  times: number[];
  lines: Line[];
}

/** Options for {@link createChart}. */
export interface ChartOptions {
  /** The chart's name in the page (`data-chart`), for links and tests. */
  name: string;
  title: string;
  /** How a value of the first scale reads in the legend and on the axis. */
  format: (value: number) => string;
  /** The right-hand scale (when a line uses it): its range and format. */
  right?: { range: [number, number]; format: (value: number) => string };
  /** A fixed range of the first scale; from the data when absent. */
  range?: () => [number, number] | null;
  /** Values of the first scale are whole numbers (counts): no ticks between them. */
  integer?: boolean;
  /** The time axis's range in milliseconds since the epoch (e.g. the last hour); from the data when absent. */
  window?: () => [number, number];
  /** Said in place of the plot while there is nothing to draw. */
  empty: string;
  height?: number;
  /** The line whose latest value the legend shows when the cursor is off the plot (default: the latest of any line). */
  latestOf?: number;
}

const COLORS = ['#2f5f8f', '#c0632b', '#2e7d4f', '#8a4fb0', '#b3261e', '#1f8a9a', '#9a6700', '#56606e'];

/** Tick steps of a count axis: 1, 2, 5, 10, 20, 50, ... */
const INTEGER_STEPS = Array.from({ length: 27 }, (_, i) => [1, 2, 5][i % 3]! * 10 ** Math.floor(i / 3));

/**
 * The points of a line to mark where uPlot draws none (too dense for points): values with no
 * value on either side, which make no line. A model's only rate so far would be invisible.
 */
function isolated(u: uPlot, series: number, show: boolean): number[] | null {
  if (show) return null;
  const values = u.data[series] ?? [];
  const absent = (i: number) => values[i] === null || values[i] === undefined;
  const found: number[] = [];
  for (let i = 0; i < values.length; i++) if (!absent(i) && absent(i - 1) && absent(i + 1)) found.push(i);
  return found.length ? found : null;
}

/** The color of the nth line of a chart; a chart's lines keep their order, so a model keeps its color. */
export const colorOf = (n: number) => COLORS[n % COLORS.length] as string;

/**
 * A time chart drawn by uPlot, with its legend showing the latest values (the values under the
 * cursor while it is over the plot). {@link Chart.update} redraws it with new data; the plot is
 * built again only when its lines change (a model appears), else uPlot just takes the new data.
 */
export interface Chart {
  element: HTMLElement;
  update(data: ChartData): void;
  destroy(): void;
}

/** The last index at which a line (or any line) has a value: what the legend shows while no cursor is over the plot. */
function lastIndex(data: ChartData, line?: number): number | null {
  const lines = line === undefined ? data.lines : data.lines.slice(line, line + 1);
  for (let i = data.times.length - 1; i >= 0; i--) if (lines.some((l) => l.values[i] !== null && l.values[i] !== undefined)) return i;
  return null;
}

/** Creates a {@link Chart}; it sizes itself to its container's width. */
export function createChart(options: ChartOptions): Chart {
  const plot = h('div', { class: 'plot' });
  const note = h('p', { class: 'muted empty' }, options.empty);
  const element = h('figure', { class: 'chart', 'data-chart': options.name }, h('figcaption', null, options.title), plot, note);
  let chart: uPlot | null = null;
  let shape = '';
  let latest: number | null = null;
  const width = () => Math.max(280, plot.clientWidth || element.clientWidth || 600);
  const resize = new ResizeObserver(() => chart?.setSize({ width: width(), height: options.height ?? 220 }));
  resize.observe(element);

  function build(data: ChartData) {
    chart?.destroy();
    const value = (format: (v: number) => string) => (_u: uPlot, v: number | null) => (v === null || v === undefined ? '-' : format(v));
    const right = options.right;
    chart = new uPlot(
      {
        width: width(),
        height: options.height ?? 220,
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: options.window ? { time: true, range: () => options.window!().map((ms) => ms / 1000) as [number, number] } : { time: true },
          y: { range: (_u, min, max) => options.range?.() ?? [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
          ...(right ? { right: { range: right.range } } : {}),
        },
        axes: [
          {},
          { values: (_u, ticks) => ticks.map((t) => options.format(t)), size: 60, ...(options.integer ? { incrs: INTEGER_STEPS } : {}) },
          ...(right
            ? [{ scale: 'right', side: 1 as const, grid: { show: false }, values: (_u: uPlot, ticks: number[]) => ticks.map(right.format) }]
            : []),
        ],
        series: [
          { label: 'Time', value: (_u, v) => (v === null ? '-' : new Date(v * 1000).toLocaleTimeString()) },
          ...data.lines.map((line, i) => ({
            label: line.label,
            stroke: colorOf(i),
            width: 2,
            ...(line.fill ? { fill: `${colorOf(i)}22` } : {}),
            ...(line.dash ? { dash: [6, 4] } : {}),
            ...(line.scale === 'right' && right ? { scale: 'right', value: value(right.format) } : { value: value(options.format) }),
            spanGaps: false,
            points: { filter: isolated },
          })),
        ],
        hooks: {
          // Off the plot the legend shows the latest values, not dashes.
          setCursor: [
            (u) => void (u.cursor.idx === null || u.cursor.idx === undefined ? latest !== null && u.setLegend({ idx: latest }) : null),
          ],
        },
      },
      [[], ...data.lines.map(() => [])],
      plot,
    );
  }

  return {
    element,
    update(data) {
      const next = data.lines.map((line) => `${line.label}|${line.scale ?? ''}|${line.dash ?? ''}`).join('\n');
      note.hidden = data.times.length > 0;
      plot.hidden = data.times.length === 0;
      if (data.times.length === 0) return;
      if (next !== shape || !chart) {
        shape = next;
        build(data);
      }
      latest = lastIndex(data, options.latestOf);
      chart!.setData([data.times.map((t) => t / 1000), ...data.lines.map((line) => line.values)] as uPlot.AlignedData);
      if (latest !== null) chart!.setLegend({ idx: latest });
      element.dataset.points = String(data.times.length);
    },
    destroy() {
      resize.disconnect();
      chart?.destroy();
      chart = null;
      replace(plot);
    },
  };
}

/**
 * Lines of several series aligned on one time axis, as uPlot draws them: every time any series
 * has, sorted, and each series' value at it (null where it has none).
 */
export function align<T>(
  series: { label: string; points: T[] }[],
  at: (point: T) => number,
  value: (point: T) => number | null,
): ChartData {
  const times = [...new Set(series.flatMap((s) => s.points.map(at)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  return {
    times,
    lines: series.map((s) => {
      const values: (number | null)[] = times.map(() => null);
      for (const point of s.points) values[index.get(at(point))!] = value(point);
      return { label: s.label, values };
    }),
  };
}
