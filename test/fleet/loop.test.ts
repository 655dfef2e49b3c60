import { describe, expect, it } from 'vitest';
import { createPeriodic, createWakeable } from '../../core/loop.ts';

/** Longer than any test may take: a sleep that ends at all was ended by a wake or a close. */
const FOREVER_MS = 3_600_000;

describe('the wakeable sleep of the lease loops', () => {
  it('ends a sleep under way when woken', async () => {
    const idle = createWakeable();
    const slept = idle.sleep(FOREVER_MS);
    idle.wake();
    await slept;
  });

  it('keeps a wake that came while nobody slept, for the next sleep only', async () => {
    const idle = createWakeable();
    idle.wake();
    idle.wake();
    await idle.sleep(FOREVER_MS);
    let ended = false;
    const next = idle.sleep(FOREVER_MS).then(() => (ended = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(ended).toBe(false);
    idle.wake();
    await next;
  });

  it('ends every sleep at once once closed', async () => {
    const idle = createWakeable();
    const slept = idle.sleep(FOREVER_MS);
    idle.close();
    await slept;
    await idle.sleep(FOREVER_MS);
    await idle.sleep(FOREVER_MS);
  });
});

describe('the periodic task of the lease loops', () => {
  it('never runs the task twice at once: a run asked for meanwhile joins the one under way', async () => {
    let runs = 0;
    let finish = () => {};
    const periodic = createPeriodic(async () => {
      runs++;
      await new Promise<void>((resolve) => (finish = resolve));
    }, FOREVER_MS);
    const first = periodic.run();
    const second = periodic.run();
    expect(runs).toBe(1);
    finish();
    await Promise.all([first, second]);
    const third = periodic.run();
    expect(runs).toBe(2);
    finish();
    await third;
  });

  it("runs on its interval until stopped, and hands the task's failures to onError", async () => {
    const failures: unknown[] = [];
    let runs = 0;
    const periodic = createPeriodic(
      async () => {
        runs++;
        throw new Error(`run ${runs}`);
      },
      5,
      (err) => failures.push(err),
    );
    periodic.start();
    while (runs < 3) await new Promise((r) => setTimeout(r, 5));
    periodic.stop();
    const stoppedAt = runs;
    await new Promise((r) => setTimeout(r, 50));
    expect(runs).toBe(stoppedAt);
    expect(failures.map((e) => (e as Error).message).slice(0, 3)).toEqual(['run 1', 'run 2', 'run 3']);
  });
});
