// `npm run bench [-- --quick] [--only NAME,...] [--out FILE] [--json FILE]`: runs the six
// benchmarks, each in its own process on its own scratch database, prints the table and writes
// it to bench/results.md (quick mode: bench/out/results-quick.md, so that it never replaces the
// full numbers). Exits 1 when a benchmark could not run; a missed goal is reported, not an error.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCHMARKS, describeMachine, formatResults, type Outcome } from './table.ts';
import { BUN, FETCH_LIMIT, type BenchResult } from './support.ts';
import { INHERITED_ENV, STARTED_BY_NPM } from './config.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'string' },
  },
});
const quick = values.quick ?? false;
const chosen = values.only ? values.only.split(',').map((s) => s.trim()) : BENCHMARKS.map((b) => b.name);
const unknown = chosen.filter((name) => !BENCHMARKS.some((b) => b.name === name));
if (unknown.length) {
  console.error(`Unknown benchmark(s): ${unknown.join(', ')}; choose from ${BENCHMARKS.map((b) => b.name).join(', ')}.`);
  process.exit(2);
}
const out = values.out ?? (quick ? 'bench/out/results-quick.md' : 'bench/results.md');
const argv = process.argv.slice(2);
const command = STARTED_BY_NPM
  ? `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`
  : `bun scripts/bench/run.ts ${argv.join(' ')}`.trim();

/** Runs one benchmark file in its own Bun process; its progress goes to stderr, its result line to stdout. */
async function runOne(name: string): Promise<Outcome> {
  const started = performance.now();
  const child = Bun.spawn([BUN, `scripts/bench/${name}.ts`, ...(quick ? ['--quick'] : [])], {
    env: { ...INHERITED_ENV, BUN_CONFIG_MAX_HTTP_REQUESTS: FETCH_LIMIT },
    stdout: 'pipe',
    stderr: 'inherit',
  });
  const stdout = await new Response(child.stdout).text();
  const code = await child.exited;
  const seconds = (performance.now() - started) / 1000;
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (code !== 0 || !line)
    return { name, seconds, result: null, error: `exited with code ${code}${line ? '' : ' without a result'} (its output is above)` };
  return { name, seconds, result: JSON.parse(line.slice('BENCH_RESULT '.length)) as BenchResult, error: null };
}

const machineBefore = await describeMachine();
const startedAt = new Date();
const outcomes: Outcome[] = [];
for (const { name } of BENCHMARKS.filter((b) => chosen.includes(b.name))) {
  console.error(`\n=== ${name}${quick ? ' (quick)' : ''} ===`);
  outcomes.push(await runOne(name));
}
const machineAfter = await describeMachine();
const markdown = formatResults({ outcomes, quick, command, startedAt, machine: machineBefore, loadAfter: machineAfter.load });
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, markdown);
if (values.json) {
  mkdirSync(dirname(values.json), { recursive: true });
  writeFileSync(values.json, `${JSON.stringify({ quick, command, startedAt, machine: machineBefore, outcomes }, null, 2)}\n`);
}
console.log(`\n${markdown}`);
console.error(`written to ${out}`);
process.exit(outcomes.some((o) => o.error) ? 1 : 0);
