// Recovery: seconds from `kill -9` of a worker to every request it held being processed by
// another worker. Two workers with default settings, each on its own simulated GPU, share one
// batch; one is killed in its steady state. Measured without a supervisor (the goal's case: a
// lost host, whose leases must expire) and, as the reference, under a supervisor (which returns
// them at once). Usage: bun scripts/bench/recovery.ts [--quick]
import { sql } from 'drizzle-orm';
import { rows, type Database } from '../../schema/index.ts';
import { createScratchDatabase, modeOf, queueChatBatch, report, round, say, spawnBun, type Child } from './support.ts';

const { quick } = modeOf();
/** The full run: each GPU like an H100 under vLLM's defaults (1,024 sequences, 30 ms per decode step, ~100-token outputs). */
const SIZES = quick
  ? {
      requests: 800,
      slots: 32,
      tpotMs: 2,
      outputTokens: 20,
      killAfter: 150,
      env: { LEASE_TTL_MS: '1000', HEARTBEAT_MS: '300', REAP_MS: '200' },
    }
  : { requests: 4000, slots: 256, tpotMs: 30, outputTokens: 100, killAfter: 300, env: {} as Record<string, string> };
const GOAL_SECONDS = 15;
const NAME = 'recovery';

async function startSim(): Promise<{ child: Child; url: string }> {
  const child = spawnBun(
    [
      'fleet/entry/sim.ts',
      '--port',
      '0',
      '--slots',
      String(SIZES.slots),
      '--tpot-ms',
      String(SIZES.tpotMs),
      '--output-tokens',
      String(SIZES.outputTokens),
    ],
    {},
  );
  const [, url] = (await child.waitFor(/"url":"(http:[^"]+)"/)) as unknown as [string, string];
  return { child, url };
}

const count = async (database: Database, query: ReturnType<typeof sql>) => (await rows<{ n: number }>(database.db, query))[0]?.n ?? 0;

/** A running fleet of two workers. */
interface Fleet {
  children: Child[];
  /** Throws when a process of the fleet has died unasked. */
  check(): void;
}

/** Waits for the processes to be ready; stops them if they never are. */
async function readyOrStopped<T>(children: Child[], ready: () => Promise<T>): Promise<T> {
  try {
    return await ready();
  } catch (error) {
    await Promise.all(children.map((c) => c.stop()));
    throw error;
  }
}

/** Two workers started by hand: nobody returns a dead one's leases, they expire and a live worker's reaper returns them. */
async function bareWorkers(url: string, sims: string[]): Promise<Fleet> {
  const start = (id: string, gpu: number) =>
    spawnBun(['fleet/entry/worker.ts'], {
      ...SIZES.env,
      DATABASE_URL: url,
      ENGINE_URL: sims[gpu]!,
      WORKER_ID: id,
      WORKER_GPU: String(gpu),
      LOG_LEVEL: 'info',
    });
  const children = [start('victim', 0), start('survivor', 1)];
  await readyOrStopped(children, () => Promise.all(children.map((c) => c.waitFor(/"msg":"worker ready"/))));
  return {
    children,
    check() {
      for (const c of children) if (c.process.exitCode !== null) throw new Error(`a worker exited early:\n${c.output().slice(-4000)}`);
    },
  };
}

/** One supervisor with two GPUs: it returns a dead worker's leases at once and restarts it after a second. */
async function supervised(url: string, sims: string[]): Promise<Fleet> {
  const supervisor = spawnBun(['fleet/entry/supervisor.ts', '--gpus', '0,1', '--engine-url', sims.join(',')], {
    ...SIZES.env,
    DATABASE_URL: url,
    LOG_LEVEL: 'info',
  });
  await readyOrStopped([supervisor], () => supervisor.waitFor(/"msg":"worker ready"[\s\S]*"msg":"worker ready"/));
  return {
    children: [supervisor],
    check() {
      if (supervisor.process.exitCode !== null) throw new Error(`the supervisor exited:\n${supervisor.output().slice(-4000)}`);
    },
  };
}

/** A worker to kill and the lines it holds leased. */
interface Victim {
  id: string;
  pid: number;
  held: { line: number }[];
}

/**
 * Freezes (SIGSTOP) the worker of GPU 0 at a moment it holds leases and reads the lines it
 * holds. The worker is looked up in the workers table when it is frozen, so a worker its
 * supervisor restarted meanwhile is the one killed; one caught between its last result and its
 * next lease, holding nothing, runs on and is frozen again.
 */
async function frozenWithLeases(database: Database, fleet: Fleet): Promise<Victim> {
  for (let attempt = 0; attempt < 50; attempt++) {
    fleet.check();
    const [worker] = await rows<{ id: string; pid: number }>(
      database.db,
      sql`select id, pid from workers where gpu = '0' and status = 'ready' order by started_at desc limit 1`,
    );
    if (worker) {
      process.kill(worker.pid, 'SIGSTOP');
      await Bun.sleep(200);
      const held = await rows<{ line: number }>(
        database.db,
        sql`select line from request_states where lease_owner = ${worker.id} and status = 'leased'`,
      );
      if (held.length > 0) return { ...worker, held };
      process.kill(worker.pid, 'SIGCONT');
    }
    await Bun.sleep(20);
  }
  throw new Error("GPU 0's worker held no leases in 50 tries (has the batch run out of queued lines?)");
}

/** Kills the victim in its steady state; seconds until another worker has processed every request it held. */
async function recover(sims: string[], how: (url: string, sims: string[]) => Promise<Fleet>): Promise<{ seconds: number; held: number }> {
  const scratch = await createScratchDatabase(NAME);
  let fleet: Fleet | undefined;
  try {
    const { database, url } = scratch;
    await queueChatBatch(database, SIZES.requests);
    fleet = await how(url, sims);
    // Both GPUs run alike, so the victim has written about half of the results when they reach twice its share.
    while ((await count(database, sql`select count(*)::int as n from results`)) < 2 * SIZES.killAfter) {
      fleet.check();
      await Bun.sleep(50);
    }
    // Frozen first, so that the leases it holds can be read before anyone returns them; the
    // pause lets a result write it had already sent commit. The clock starts at the kill.
    const { pid, held } = await frozenWithLeases(database, fleet);
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now() / 1000;
    const lines = `{${held.map((r) => r.line).join(',')}}`;
    const deadline = Date.now() + 120_000;
    while ((await count(database, sql`select count(*)::int as n from results where line = any(${lines}::int[])`)) < held.length) {
      if (Date.now() > deadline) throw new Error("the killed worker's requests were not processed in 120 s");
      await Bun.sleep(100);
    }
    // The victim is dead, so a result written after the kill was written by another worker.
    const [done] = await rows<{ last: number; byOthers: number }>(
      database.db,
      sql`select extract(epoch from max(finished_at))::float8 as last,
            count(*) filter (where status = 'succeeded' and finished_at > to_timestamp(${killedAt}))::int as "byOthers"
          from results where line = any(${lines}::int[])`,
    );
    if (done!.byOthers !== held.length) throw new Error(`other workers processed ${done!.byOthers} of the ${held.length} requests`);
    return { seconds: done!.last - killedAt, held: held.length };
  } finally {
    await Promise.all((fleet?.children ?? []).map((c) => c.stop()));
    await scratch.drop();
  }
}

const sims = [await startSim(), await startSim()];
try {
  const urls = sims.map((s) => s.url);
  say(
    NAME,
    `two workers without a supervisor share ${SIZES.requests} requests; kill -9 of one after about ${SIZES.killAfter} of its results (${2 * SIZES.killAfter} written by the two)`,
  );
  const bare = await recover(urls, bareWorkers);
  say(NAME, `the same under a supervisor`);
  const withSupervisor = await recover(urls, supervised);
  report({
    name: NAME,
    title: 'Recovery',
    result: { value: round(bare.seconds, 2), unit: 's', label: 'kill -9 to its last request processed, no supervisor' },
    reference: { value: round(withSupervisor.seconds, 2), unit: 's', label: 'the same under a supervisor' },
    ratio: null,
    goal: `< ${GOAL_SECONDS} s`,
    pass: bare.seconds < GOAL_SECONDS && withSupervisor.seconds < GOAL_SECONDS,
    details: {
      'leases held by the killed worker (no supervisor)': bare.held,
      'leases held by the killed worker (supervisor)': withSupervisor.held,
      'lease time-to-live (ms)': Number(SIZES.env.LEASE_TTL_MS ?? 6000),
      'slots per simulated GPU': SIZES.slots,
      'decode step (ms)': SIZES.tpotMs,
    },
  });
} finally {
  await Promise.all(sims.map((s) => s.child.stop()));
}
