import { h, replace } from './dom.ts';
import { count, duration } from './format.ts';
import type { Progress } from './queries.ts';

/** The share of a batch that has finished, 0..1. */
export const doneFraction = (p: Pick<Progress, 'total' | 'completed' | 'failed'>) =>
  p.total > 0 ? Math.min(1, (p.completed + p.failed) / p.total) : 0;

/** A progress bar with done/total, tokens per second and time left, updated in place by each event. */
export function createProgressView(initial: Pick<Progress, 'total' | 'completed' | 'failed'>) {
  const bar = h('progress', { max: 1, value: doneFraction(initial) });
  const done = h('span', { class: 'done', 'data-field': 'done' }, `${count(initial.completed + initial.failed)}/${count(initial.total)}`);
  const rate = h('span', { class: 'rate', 'data-field': 'rate' });
  const eta = h('span', { class: 'eta', 'data-field': 'eta' });
  const element = h('div', { class: 'progress' }, bar, done, rate, eta);
  return {
    element,
    update(p: Progress) {
      bar.value = doneFraction(p);
      bar.title = `${Math.floor(doneFraction(p) * 100)}%`;
      if (p.total === 0 && !p.final) return replace(done, 'counting requests');
      replace(
        done,
        `${count(p.completed + p.failed)}/${count(p.total)}`,
        p.failed ? h('span', { class: 'failed' }, ` (${count(p.failed)} failed)`) : null,
      );
      replace(rate, p.final ? '' : `${count(p.tokensPerSecond)} tok/s`);
      replace(eta, p.final ? '' : p.estimatedSecondsLeft === null ? 'ETA ?' : `ETA ${duration(p.estimatedSecondsLeft)}`);
    },
  };
}
