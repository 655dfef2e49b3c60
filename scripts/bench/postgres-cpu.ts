// CPU seconds spent by the Postgres backends of one database, read from /proc (Linux, Postgres on this machine).
import { readFileSync } from 'node:fs';
import postgres from 'postgres';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on every Linux build in use). */
const USER_HZ = 100;
const POLL_MS = 200;

/** user + system CPU seconds of a process so far, or null when it is gone or unreadable. */
export function cpuSeconds(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return null;
  }
}

/** A running measurement; `stop` returns the CPU seconds the database's backends used since it started. */
export interface PostgresCpu {
  stop(): Promise<{ seconds: number; backends: number }>;
}

/**
 * Measures the CPU of the backends serving database `database` (on the server at `adminUrl`,
 * which must run on this machine: its processes are read in /proc). The backends are found in
 * pg_stat_activity every 200 ms, so one that starts and ends within a poll is missed, and the
 * last 200 ms of one that ends before `stop` are; the servers' shared processes (WAL writer,
 * checkpointer) are not counted, other databases' backends neither: the server may be shared.
 * Backends whose application_name starts with `exclude` (the benchmark's own probes) are left out.
 * Returns null when /proc does not show the server's processes (another machine, a container).
 */
export async function measurePostgresCpu(adminUrl: string, database: string, exclude?: string): Promise<PostgresCpu | null> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connection: { application_name: 'vbs-bench-cpu' } });
  const [own] = await admin<{ pid: number }[]>`select pg_backend_pid() as pid`;
  if (cpuSeconds(own!.pid) === null) {
    await admin.end();
    return null;
  }
  /** Per backend: its CPU when first seen (0 for one started after the measurement began) and when last seen. */
  const seen = new Map<number, { first: number; last: number }>();
  let initial = true;
  const poll = async () => {
    const backends = await admin<{ pid: number }[]>`select pid from pg_stat_activity
      where datname = ${database} and pid <> pg_backend_pid() and (${exclude ?? null}::text is null or not starts_with(application_name, ${exclude ?? ''}))`;
    for (const { pid } of backends) {
      const now = cpuSeconds(pid);
      if (now === null) continue;
      const known = seen.get(pid);
      if (known) known.last = now;
      else seen.set(pid, { first: initial ? now : 0, last: now });
    }
    initial = false;
  };
  await poll();
  let polling = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(poll).catch(() => {});
  }, POLL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await polling;
      await poll();
      await admin.end();
      let seconds = 0;
      for (const { first, last } of seen.values()) seconds += last - first;
      return { seconds, backends: seen.size };
    },
  };
}
