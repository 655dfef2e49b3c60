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
export const PROGRESS_FIELDS =
  'batchId status total completed failed remaining tokensPerSecond requestsPerSecond estimatedSecondsLeft final';

const FULL = '█';
const EMPTY = '░';

/** The fraction of a batch that is done (succeeded or failed), 0..1. */
export const doneFraction = (p: Progress) => (p.total > 0 ? Math.min(1, (p.completed + p.failed) / p.total) : p.final ? 1 : 0);

/** The figures after the bar: done/total, percent, failures, tokens per second and time left. */
function figures(p: Progress): string {
  // Validating (or the first event after it): the requests are not counted yet.
  if (p.total === 0 && !p.final) return 'counting requests';
  const done = p.completed + p.failed;
  const parts = [`${formatCount(done)}/${formatCount(p.total)}`, `${Math.floor(doneFraction(p) * 100)}%`];
  if (p.failed) parts.push(`${formatCount(p.failed)} failed`);
  if (!p.final) {
    parts.push(`${formatCount(p.tokensPerSecond)} tok/s`);
    parts.push(`ETA ${p.estimatedSecondsLeft === null ? '?' : formatDuration(p.estimatedSecondsLeft)}`);
  }
  return parts.join('  ');
}

/** Columns kept for the figures, so the bar keeps its width while they change. */
const FIGURES_WIDTH = 52;

/** One terminal line: status, a bar filling `width` columns in all, and the figures. */
export function renderBar(p: Progress, width = 80): string {
  const head = `${p.status.padEnd(11)} `;
  const tail = `  ${figures(p)}`;
  const barWidth = Math.max(10, Math.min(40, width - head.length - FIGURES_WIDTH - 2));
  // Floor: the bar is full only when every request has finished.
  const filled = Math.floor(doneFraction(p) * barWidth);
  // A line longer than the terminal wraps, and the redraw would clear only its last row.
  return `${head}[${FULL.repeat(filled)}${EMPTY.repeat(barWidth - filled)}]${tail}`.slice(0, Math.max(20, width - 1));
}

/** One plain log line, for output that is not a terminal. */
export function renderLine(p: Progress): string {
  return `${p.batchId} ${p.status} ${figures(p)}`;
}
