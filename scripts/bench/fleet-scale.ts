// Fleet scale: how many requests per second one Postgres carries for a fleet of supervisors on
// this machine, each with several simulated GPUs (one simulator process per supervisor, fast:
// short outputs), raising the GPU count a supervisor at a time until throughput stops growing.
// Reports the ceiling, Postgres's CPU seconds per 1,000 requests (its backends of the scratch
// database, read in /proc), where the machine's CPU went, and the workers' lease and result-write
// latencies at the ceiling (their Prometheus histograms).
// Usage: bun scripts/bench/fleet-scale.ts [--quick] [--gpus-per-supervisor 2] [--max-supervisors 12]
//   [--slots 1024] [--output-tokens 4] [--tpot-ms 600] [--ttft-ms 600] [--warm-seconds 6] [--window-seconds 10] [--idle-seconds 6]
//   [--embedding-dim N] (embedding batches, vectors of N floats, instead of chat)
import { loadavg } from 'node:os';
import { sql } from 'drizzle-orm';
import { rows } from '../../schema/index.ts';
import { startFleetStep, type FleetStep } from './fleet-step.ts';
import { cpuSeconds, measurePostgresCpu } from './postgres-cpu.ts';
import { ADMIN_URL, createScratchDatabase, ensureFetchLimit, queueBatch, queueChatBatch, report, round, say, sizesFor } from './support.ts';
import { quantileOf, scrapeHistograms, since } from './worker-histograms.ts';

await ensureFetchLimit();
/**
 * Each simulated GPU is set so that its worker leases, writes and heartbeats as on an H100 under
 * vLLM's defaults finishing ~100-token chat outputs: 1,024 sequences of about 3 s each, some 340
 * requests a second. But each request is only ~4 tokens long (one decode step every 0.6 s), so
 * the workers' stream parsing and the simulators cost little of the two cores, and Postgres's
 * share is as large as this machine allows.
 */
const SIZES = sizesFor(
  {
    gpusPerSupervisor: 1,
    maxSupervisors: 2,
    slots: 32,
    outputTokens: 3,
    tpotMs: 20,
    ttftMs: 20,
    warmSeconds: 1,
    windowSeconds: 2,
    idleSeconds: 2,
    embeddingDim: 0,
  },
  {
    gpusPerSupervisor: 2,
    maxSupervisors: 12,
    slots: 1024,
    outputTokens: 4,
    tpotMs: 600,
    ttftMs: 600,
    warmSeconds: 6,
    windowSeconds: 10,
    idleSeconds: 6,
    embeddingDim: 0,
  },
);
const NAME = 'fleet-scale';
/** A step must add this much to the best throughput so far to count as growth. */
const GROWTH = 1.05;
/** Connections left free on the server for everyone else (the server may be shared). */
const CONNECTION_MARGIN = 15;
const OWNERS = ['owner-a', 'owner-b', 'owner-c', 'owner-d'];
const LEASE = 'vbs_worker_lease_duration_seconds';
const WRITE = 'vbs_worker_result_write_duration_seconds';
/** Requests a simulated GPU finishes per second when the worker keeps its slots full. */
/** `--embedding-dim N` runs embedding batches instead (vectors of N floats, no decode steps: a request takes its time to first token). */
const EMBEDDINGS = SIZES.embeddingDim > 0;
const GPU_RATE = SIZES.slots / ((SIZES.ttftMs + (EMBEDDINGS ? 0 : SIZES.outputTokens * SIZES.tpotMs)) / 1000);

/** Queues one owner's batch of `lines` short requests through ingest's path. */
function queueOwnersBatch(owner: string, lines: number) {
  if (!EMBEDDINGS) return queueChatBatch(scratch.database, lines, 0, owner);
  return queueBatch(scratch.database, {
    lines,
    model: 'sim-model',
    owner,
    endpoint: '/v1/embeddings',
    body: (line) => `{"model":"sim-model","input":"passage ${line}: a short text to embed"}`,
  });
}

/** A statement's latency over a window, in ms, from the workers' histograms. */
interface Latency {
  p50: number;
  p99: number;
  mean: number;
  count: number;
}

/** A Postgres CPU figure, or why there is none (Postgres on another machine: /proc does not show it). */
const measuredText = (value: number) => (Number.isFinite(value) ? String(value) : 'not measured');

const latencyText = (l: Latency) => (l.count ? `${l.p50} / ${l.p99} / ${l.mean} (${l.count} statements)` : 'not recorded by the workers');

/** One step's window: its fleet size and what the fleet and Postgres did in it. */
interface Measured {
  gpus: number;
  requestsPerSecond: number;
  postgresCpuPer1000: number;
  postgresCores: number;
  workerCores: number;
  simulatorCores: number;
  transactionsPer1000: number;
  connections: number;
  lease: Latency;
  write: Latency;
  load: number;
}

const scratch = await createScratchDatabase(NAME, 2);
const db = scratch.database.db;
const steps: FleetStep[] = [];
const one = async <T>(query: ReturnType<typeof sql>) => (await rows<T>(db, query))[0]!;
const answered = async () =>
  (await one<{ n: number }>(sql`select coalesce(sum(succeeded + failed), 0)::float8 as n from request_ranges`)).n;
const openLines = async () =>
  (
    await one<{ n: number }>(
      sql`select coalesce(sum(size - succeeded - failed), 0)::float8 as n from request_ranges where finished_at is null`,
    )
  ).n;
const transactions = async () =>
  (await one<{ n: number }>(sql`select xact_commit::float8 as n from pg_stat_database where datname = current_database()`)).n;
const connections = async () =>
  (await one<{ n: number }>(sql`select count(*)::int as n from pg_stat_activity where datname = current_database()`)).n;
const ms = (seconds: number) => round(seconds * 1000, 1);
const gpusNow = () => steps.reduce((n, s) => n + s.workerPids.length, 0);

/** Queues batches of the four owners until the open lines cover `seconds` more of the fleet's demand (at most 1.5 × the best rate so far). */
async function keepQueued(seconds: number, best: number) {
  const demand = Math.min(gpusNow() * GPU_RATE, best > 0 ? best * 1.5 : Number.POSITIVE_INFINITY);
  const missing = demand * seconds - (await openLines());
  if (missing <= 0) return;
  const perOwner = Math.ceil(missing / OWNERS.length);
  for (const owner of OWNERS) await queueOwnersBatch(owner, perOwner);
}

/** CPU seconds of some processes so far. */
const cpuOf = (pids: readonly number[]) => pids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);

/** Measures the fleet as it runs now, over `seconds`. */
async function measure(seconds: number): Promise<Measured> {
  const urls = steps.flatMap((s) => s.metricsUrls);
  const workers = steps.flatMap((s) => s.workerPids);
  const sims = steps.map((s) => s.simulatorPid);
  const before = {
    answered: await answered(),
    xacts: await transactions(),
    histograms: await scrapeHistograms(urls, [LEASE, WRITE]),
    workers: cpuOf(workers),
    sims: cpuOf(sims),
  };
  const postgres = await measurePostgresCpu(ADMIN_URL, scratch.name, 'vbs-bench');
  const started = performance.now();
  await Bun.sleep(seconds * 1000);
  const elapsed = (performance.now() - started) / 1000;
  const server = await postgres?.stop();
  const after = {
    answered: await answered(),
    xacts: await transactions(),
    histograms: await scrapeHistograms(urls, [LEASE, WRITE]),
    workers: cpuOf(workers),
    sims: cpuOf(sims),
  };
  const done = after.answered - before.answered;
  const lease = since(after.histograms.get(LEASE)!, before.histograms.get(LEASE));
  const write = since(after.histograms.get(WRITE)!, before.histograms.get(WRITE));
  const latency = (h: typeof lease): Latency => ({
    p50: ms(quantileOf(h, 0.5)),
    p99: ms(quantileOf(h, 0.99)),
    mean: ms(h.sum / Math.max(1, h.count)),
    count: h.count,
  });
  return {
    gpus: workers.length,
    requestsPerSecond: round(done / elapsed),
    postgresCpuPer1000: server ? round((server.seconds * 1000) / Math.max(1, done), 3) : Number.NaN,
    postgresCores: server ? round(server.seconds / elapsed, 2) : Number.NaN,
    workerCores: round((after.workers - before.workers) / elapsed, 2),
    simulatorCores: round((after.sims - before.sims) / elapsed, 2),
    transactionsPer1000: round(((after.xacts - before.xacts) * 1000) / Math.max(1, done)),
    connections: await connections(),
    lease: latency(lease),
    write: latency(write),
    load: round(loadavg()[0]!, 2),
  };
}

try {
  const [limits] = await rows<{ max: number; reserved: number; used: number }>(
    db,
    sql`select current_setting('max_connections')::int as max, current_setting('superuser_reserved_connections')::int as reserved, (select count(*)::int from pg_stat_activity) as used`,
  );
  const budget = limits!.max - limits!.reserved - limits!.used - CONNECTION_MARGIN;
  const work = EMBEDDINGS ? `embeddings of ${SIZES.embeddingDim} floats` : `~${SIZES.outputTokens}-token outputs`;
  say(
    NAME,
    `each simulated GPU: ${SIZES.slots} slots, ${work}, about ${round(GPU_RATE)} requests/s; ${SIZES.gpusPerSupervisor} GPUs per supervisor; ${budget} connections may be used`,
  );

  steps.push(await startFleetStep({ url: scratch.url, index: 0, gpus: SIZES.gpusPerSupervisor, sizes: SIZES }));
  const idleWorkers = gpusNow();
  say(NAME, `idle fleet of ${idleWorkers} workers, empty queue: ${SIZES.idleSeconds} s`);
  const idlePostgres = await (async () => {
    const cpu = await measurePostgresCpu(ADMIN_URL, scratch.name, 'vbs-bench');
    const xacts = await transactions();
    await Bun.sleep(SIZES.idleSeconds * 1000);
    return { seconds: (await cpu?.stop())?.seconds ?? Number.NaN, xacts: (await transactions()) - xacts };
  })();

  const measured: Measured[] = [];
  let best: Measured | null = null;
  let stoppedBy = `the largest fleet tried (${SIZES.maxSupervisors} supervisors)`;
  for (let k = 0; k < SIZES.maxSupervisors; k++) {
    if (k > 0) {
      const perWorker = Math.max(4, (await connections()) / Math.max(1, gpusNow()));
      if ((await connections()) + perWorker * SIZES.gpusPerSupervisor + 2 > budget) {
        stoppedBy = `the server's connection limit (max_connections ${limits!.max}, ${limits!.used} in use by others at the start)`;
        break;
      }
      steps.push(await startFleetStep({ url: scratch.url, index: k, gpus: SIZES.gpusPerSupervisor, sizes: SIZES }));
    }
    await keepQueued(SIZES.warmSeconds + SIZES.windowSeconds + 10, best?.requestsPerSecond ?? 0);
    await Bun.sleep(SIZES.warmSeconds * 1000);
    const step = await measure(SIZES.windowSeconds);
    if ((await openLines()) === 0) throw new Error(`the queue ran dry during the step with ${step.gpus} GPUs`);
    measured.push(step);
    say(
      NAME,
      `${step.gpus} GPUs: ${step.requestsPerSecond} requests/s, Postgres ${step.postgresCpuPer1000} CPU s per 1,000 (${step.postgresCores} cores), workers ${step.workerCores} cores, simulators ${step.simulatorCores} cores; lease p50 / p99 / mean ms ${latencyText(step.lease)}, write ${latencyText(step.write)}; load ${step.load}`,
    );
    if (best && step.requestsPerSecond < best.requestsPerSecond * GROWTH) {
      stoppedBy = 'throughput: it stopped growing';
      break;
    }
    if (!best || step.requestsPerSecond > best.requestsPerSecond) best = step;
  }
  const ceiling = best!;
  const workers = gpusNow();
  report({
    name: NAME,
    title: 'Fleet scale',
    result: { value: ceiling.requestsPerSecond, unit: 'requests/s', label: `ceiling, ${ceiling.gpus} simulated GPUs on one Postgres` },
    reference: null,
    ratio: null,
    goal: 'a ceiling (throughput stops growing)',
    pass: stoppedBy.startsWith('throughput'),
    details: {
      'simulated GPU: slots, work, requests/s': `${SIZES.slots}, ${work}, ${round(GPU_RATE)}`,
      'supervisors × GPUs at the end': `${steps.length} × ${SIZES.gpusPerSupervisor}`,
      'stopped by': stoppedBy,
      'steps (GPUs: requests/s)': measured.map((m) => `${m.gpus}: ${m.requestsPerSecond}`).join(', '),
      'Postgres CPU seconds per 1,000 requests at the ceiling': measuredText(ceiling.postgresCpuPer1000),
      'Postgres cores busy at the ceiling': measuredText(ceiling.postgresCores),
      'worker / simulator cores busy at the ceiling': `${ceiling.workerCores} / ${ceiling.simulatorCores}`,
      'transactions per 1,000 requests at the ceiling': ceiling.transactionsPer1000,
      'lease statement p50 / p99 / mean at the ceiling (ms)': latencyText(ceiling.lease),
      'result write p50 / p99 / mean at the ceiling (ms)': latencyText(ceiling.write),
      'connections of the fleet at the ceiling': ceiling.connections,
      'worker restarts': steps.reduce((n, st) => n + st.exits(), 0) || 'none',
      'idle fleet, per worker: Postgres CPU ms per second, transactions per second': `${measuredText(round((idlePostgres.seconds * 1000) / SIZES.idleSeconds / idleWorkers, 1))}, ${round(idlePostgres.xacts / SIZES.idleSeconds / idleWorkers, 1)} (${idleWorkers} worker${idleWorkers === 1 ? '' : 's'}, ${SIZES.idleSeconds} s)`,
      'workers at the end': workers,
      'load average at the ceiling': ceiling.load,
    },
  });
} finally {
  await Promise.all(steps.map((s) => s.stopSupervisor()));
  await Promise.all(steps.map((s) => s.stopSimulator()));
  await scratch.drop();
}
