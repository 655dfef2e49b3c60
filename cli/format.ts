/** Formats seconds as `42s`, `3m 05s` or `2h 07m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Formats a count with thousands separators. */
export const formatCount = (n: number) => Math.round(n).toLocaleString('en-US');

/** Formats a byte size as `512 B`, `12.3 KiB`, `4.0 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** Formats how long ago a time was, e.g. `3s ago`. */
export function formatAge(at: string | number | Date, now = Date.now()): string {
  return `${formatDuration((now - new Date(at).getTime()) / 1000)} ago`;
}

/** Formats a unix-seconds or ISO timestamp as local `YYYY-MM-DD HH:MM:SS`; `-` when absent. */
export function formatTime(at: string | number | null | undefined): string {
  if (at === null || at === undefined) return '-';
  const date = typeof at === 'number' ? new Date(at * 1000) : new Date(at);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Lays rows out as a left-aligned text table under a header; each line ends in a newline. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `${l}\n`).join('');
}
