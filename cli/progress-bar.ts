import { formatCount, formatDuration } from './format.ts';

/** A `batchProgress` event, as the subscription sends it. */
export interface Progress {
  batchId: string;
  status: string;
  total: number;
  completed: number;
  failed: number;
  remaining: number;
  tokensPerSecond: number;
  requestsPerSecond: number;
  estimatedSecondsLeft: number | null;
  final: boolean;
}

/** The GraphQL selection of a {@link Progress}. */
export const PROGRESS_FIELDS = 'batchId status total completed failed remaining tokensPerSecond requestsPerSecond estimatedSecondsLeft final';

const FULL = '█';
const EMPTY = '░';

/** The fraction of a batch that is done (succeeded or failed), 0..1. */
export const doneFraction = (p: Progress) => (p.total > 0 ? Math.min(1, (p.completed + p.failed) / p.total) : p.final ? 1 : 0);

/** The figures after the bar: done/total, percent, failures, tokens per second and time left. */
function figures(p: Progress): string {
  const done = p.completed + p.failed;
  const parts = [`${formatCount(done)}/${formatCount(p.total)}`, `${Math.floor(doneFraction(p) * 100)}%`];
  if (p.failed) parts.push(`${formatCount(p.failed)} failed`);
  if (!p.final) {
    parts.push(`${formatCount(p.tokensPerSecond)} tok/s`);
    parts.push(`ETA ${p.estimatedSecondsLeft === null ? '?' : formatDuration(p.estimatedSecondsLeft)}`);
  }
  return parts.join('  ');
}

/** One terminal line: status, a bar filling `width` columns in all, and the figures. */
export function renderBar(p: Progress, width = 80): string {
  const head = `${p.status.padEnd(11)} `;
  const tail = `  ${figures(p)}`;
  const barWidth = Math.max(10, Math.min(40, width - head.length - tail.length - 3));
  const filled = Math.round(doneFraction(p) * barWidth);
  return `${head}[${FULL.repeat(filled)}${EMPTY.repeat(barWidth - filled)}]${tail}`;
}

/** One plain log line, for output that is not a terminal. */
export function renderLine(p: Progress): string {
  return `${p.batchId} ${p.status} ${figures(p)}`;
}
