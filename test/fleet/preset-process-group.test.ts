import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createOwnedEngine, type OwnedEngine } from '../../fleet/worker/owned-engine.ts';
import { BUN, ROOT, start, isAlive, type Running } from '../helpers/processes.ts';
import { eventually } from './helpers.ts';

/**
 * A stand-in for `vllm serve`: the API server (the group's leader) forks a child that, like vLLM's
 * EngineCore, outlives it and here even ignores SIGTERM. Each start appends both pids to files.
 * With `crash`, the leader exits on its own after 300 ms, leaving the child behind.
 */
const FAKE_ENGINE = `#!/bin/sh
dir=$1
( trap '' TERM INT HUP; while :; do sleep 1; done ) </dev/null &
echo $! >> "$dir/children"
echo $$ >> "$dir/leaders"
if [ "$2" = crash ]; then sleep 0.3; exit 3; fi
while :; do sleep 1; done
`;

const pids = (dir: string, file: string) =>
  (existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8') : '').trim().split('\n').filter(Boolean).map(Number);
/** Every process the fake engine started, and its process groups. */
const started = (dir: string) => [...pids(dir, 'leaders'), ...pids(dir, 'children'), ...pids(dir, 'leaders').map((p) => -p)];

describe("an owned engine's process group", () => {
  let dir = '';
  const engines: OwnedEngine[] = [];
  const processes: Running[] = [];
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.stop()));
    await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  });

  const engine = (mode: 'run' | 'crash', onCrash?: () => void) => {
    dir = mkdtempSync(join(tmpdir(), 'vbs-engine-group-'));
    writeFileSync(join(dir, 'engine.sh'), FAKE_ENGINE);
    chmodSync(join(dir, 'engine.sh'), 0o755);
    const owned = createOwnedEngine({
      launch: { template: `${join(dir, 'engine.sh')} ${dir} ${mode} {name} {port}` },
      port: 8000,
      gpu: '0',
      env: process.env,
      logger: createLogger({ level: 'error', write: () => {} }),
      health: async () => true,
      startTimeoutMs: 5000,
      stopGraceMs: 500,
      onCrash,
    });
    engines.push(owned);
    return owned;
  };
  const spec = { name: 'm', source: 'org/m', engineArgs: [], maxConcurrency: null };

  it('leaves no process of the engine behind when stopped, even one that ignores SIGTERM', async () => {
    const owned = engine('run');
    await owned.start(spec);
    await eventually(async () => pids(dir, 'children').length === 1, 5000, 'the engine to fork its child');
    expect(started(dir).every(isAlive)).toBe(true);
    await owned.stop();
    expect(started(dir).filter(isAlive)).toEqual([]);
  });

  it('kills what a crashed engine left running before it starts it again', async () => {
    let crashes = 0;
    const owned = engine('crash', () => crashes++);
    await owned.start(spec);
    await eventually(async () => crashes === 1, 5000, 'the engine to crash');
    const [firstChild] = pids(dir, 'children') as [number];
    await eventually(async () => !isAlive(firstChild), 3000, "the crashed engine's child to be killed");
    await eventually(async () => pids(dir, 'leaders').length >= 2, 5000, 'the engine to be restarted');
    await owned.stop();
    expect(started(dir).filter(isAlive)).toEqual([]);
  });

  it('ends the engine when the worker that owns it is killed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vbs-engine-group-'));
    writeFileSync(join(dir, 'engine.sh'), FAKE_ENGINE);
    chmodSync(join(dir, 'engine.sh'), 0o755);
    // A worker in miniature: it starts its engine and then is killed as the supervisor kills a worker.
    const script = `
      import { createOwnedEngine } from '${ROOT}fleet/worker/owned-engine.ts';
      import { createLogger } from '${ROOT}core/logger.ts';
      const owned = createOwnedEngine({ launch: { template: '${join(dir, 'engine.sh')} ${dir} run {name} {port}' }, port: 8000, gpu: '0',
        env: process.env, logger: createLogger({ level: 'error' }), health: async () => true, startTimeoutMs: 5000 });
      await owned.start({ name: 'm', source: 'org/m', engineArgs: [], maxConcurrency: null });
      console.log('engine started');
      setInterval(() => {}, 1000);
    `;
    writeFileSync(join(dir, 'worker.ts'), script);
    const worker = start(BUN, [join(dir, 'worker.ts')]);
    processes.push(worker);
    await worker.waitFor(/engine started/, 10_000);
    await eventually(async () => pids(dir, 'children').length === 1, 5000, 'the engine to fork its child');
    worker.child.kill('SIGKILL');
    await eventually(async () => started(dir).filter(isAlive).length === 0, 5000, 'every process of the engine to be gone');
  });
});
