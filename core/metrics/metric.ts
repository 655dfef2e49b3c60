/** Label values of one series, by label name. */
export type Labels<L extends string> = { readonly [K in L]?: string | number };

/** What every metric kind declares. */
export interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

/** A metric as the registry sees it: it renders its own lines of the text format. */
export interface Metric {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  render(): string;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Throws when a metric or label name is not valid in Prometheus. */
export function checkNames(name: string, labelNames: readonly string[]): void {
  if (!NAME.test(name)) throw new Error(`metrics: "${name}" is not a valid metric name`);
  for (const label of labelNames) {
    if (!LABEL.test(label) || label.startsWith('__') || label === 'le')
      throw new Error(`metrics: "${label}" is not a valid label name of ${name}`);
  }
}

/** A number as the text format writes it. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** The `{a="x",b="y"}` part of a series, in the metric's label order; empty without labels. */
export function formatLabels(labelNames: readonly string[], labels: Record<string, string | number | undefined>, extra = ''): string {
  const parts = labelNames.map((n) => `${n}="${escapeLabel(String(labels[n] ?? ''))}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** The key of a series in a metric's map: its label values in order. */
export function seriesKey(labelNames: readonly string[], labels: Record<string, string | number | undefined>): string {
  return labelNames.map((n) => String(labels[n] ?? '')).join('\u0000');
}

/** The `# HELP` and `# TYPE` lines. */
export function header(name: string, help: string, type: Metric['type']): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
}
