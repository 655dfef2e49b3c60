// The benchmarks' list, the machine they ran on, and the Markdown of bench/results.md.
import { cpus, loadavg, totalmem } from 'node:os';
import postgres from 'postgres';
import { createClient } from 'redis';
import { ADMIN_URL, REDIS_URL, type BenchResult, type Figure } from './support.ts';

/** The benchmarks, in the order they run; each is `scripts/bench/<name>.ts`. */
export const BENCHMARKS = [
  { name: 'saturation', title: 'Saturation' },
  { name: 'lease-path', title: 'Lease path' },
  { name: 'fleet-scale', title: 'Fleet scale' },
  { name: 'ingest', title: 'Ingest' },
  { name: 'recovery', title: 'Recovery' },
  { name: 'fan-out', title: 'Fan-out' },
] as const;

/** A benchmark run: its result, or why there is none. */
export interface Outcome {
  name: string;
  seconds: number;
  result: BenchResult | null;
  error: string | null;
}

/** What the numbers depend on. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  bun: string;
  postgres: string;
  redis: string;
  /** The 1-, 5- and 15-minute load averages (the machine may be shared). */
  load: number[];
}

/** Reads the machine and the servers' versions now. */
export async function describeMachine(): Promise<Machine> {
  const node = Bun.spawnSync(['node', '-v']).stdout.toString().trim() || 'not found';
  let pg = 'unknown';
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    pg = (await admin<{ server_version: string }[]>`show server_version`)[0]?.server_version ?? pg;
  } finally {
    await admin.end();
  }
  let redis = 'unknown';
  const client = createClient({ url: REDIS_URL });
  try {
    await client.connect();
    redis = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? redis;
  } catch {
    redis = 'unreachable';
  } finally {
    if (client.isOpen) await client.quit();
  }
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node,
    bun: Bun.version,
    postgres: pg,
    redis,
    load: loadavg().map((l) => Number(l.toFixed(2))),
  };
}

const number = (value: number) => value.toLocaleString('en-US', { maximumFractionDigits: 3 });
const figure = (f: Figure | null) => (f ? `${number(f.value)} ${f.unit} (${f.label})` : '—');

/** Options for {@link formatResults}. */
export interface FormatOptions {
  outcomes: Outcome[];
  quick: boolean;
  command: string;
  startedAt: Date;
  machine: Machine;
  loadAfter: number[];
}

/** The results as Markdown: the table, each benchmark's further numbers, the machine and the command. */
export function formatResults({ outcomes, quick, command, startedAt, machine, loadAfter }: FormatOptions): string {
  const lines = [
    `# Benchmark results${quick ? ' (quick mode: small sizes, to prove the benchmarks run; not the numbers)' : ''}`,
    '',
    `\`${command}\` on ${startedAt.toISOString()}. What each benchmark measures: [docs/performance.md](../docs/performance.md).`,
    '',
    '| # | benchmark | result | reference (same run) | ratio | goal | pass |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  outcomes.forEach(({ name, result, error }, i) => {
    const title = BENCHMARKS.find((b) => b.name === name)?.title ?? name;
    if (!result) lines.push(`| ${i + 1} | ${title} | did not run: ${error} | | | | ✗ |`);
    else
      lines.push(
        `| ${i + 1} | ${title} | ${figure(result.result)} | ${figure(result.reference)} | ${result.ratio === null ? '—' : number(result.ratio)} | ${result.goal} | ${result.pass ? '✓ pass' : '✗ miss'} |`,
      );
  });
  lines.push('', '## Details', '');
  for (const { name, result, seconds } of outcomes) {
    const title = BENCHMARKS.find((b) => b.name === name)?.title ?? name;
    const details = result ? Object.entries(result.details).map(([k, v]) => `${k} ${typeof v === 'number' ? number(v) : v}`) : [];
    lines.push(`- **${title}** (${seconds.toFixed(0)} s): ${details.join('; ') || 'no result'}`);
  }
  lines.push(
    '',
    '## Machine',
    '',
    `- ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB memory`,
    `- Node ${machine.node}, Bun ${machine.bun}, PostgreSQL ${machine.postgres}, Redis ${machine.redis}`,
    `- load average (1, 5, 15 min): ${machine.load.join(', ')} at the start, ${loadAfter.join(', ')} at the end`,
    '',
  );
  return lines.join('\n');
}
