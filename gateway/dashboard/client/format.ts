/** Formats seconds as `42s`, `3m 05s` or `2h 07m`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Formats a count with thousands separators. */
export const count = (n: number) => Math.round(n).toLocaleString('en-US');

/** Formats a timestamp in the browser's locale; `-` when absent. */
export const time = (at: string | null | undefined) => (at ? new Date(at).toLocaleString() : '-');

/** How long ago a timestamp was, e.g. `4s ago`. */
export const ago = (at: string, now = Date.now()) => `${duration((now - new Date(at).getTime()) / 1000)} ago`;

/** How long until a timestamp, e.g. `in 3m 05s`; `-` when absent. */
export const until = (at: string | null | undefined, now = Date.now()) =>
  at ? `in ${duration((new Date(at).getTime() - now) / 1000)}` : '-';

/** Formats a byte size. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
