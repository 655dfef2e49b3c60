import { showError, type Page } from '../context.ts';
import { h, replace, table } from '../dom.ts';
import { MODELS, type Model } from '../queries.ts';

/** The model registry, and the models live workers have loaded. */
export const models: Page = async ({ api }, root, _params, scope) => {
  replace(root, h('h1', null, 'Models'), h('p', { class: 'muted' }, 'Loading...'));
  try {
    const data = await api.graphql<{ models: Model[]; workers: { id: string; model: string | null; status: string }[] }>(MODELS);
    if (scope.closed) return;
    const serving = new Map<string, number>();
    for (const w of data.workers) if (w.model) serving.set(w.model, (serving.get(w.model) ?? 0) + 1);
    const names = [...new Set([...data.models.map((m) => m.name), ...serving.keys()])].sort();
    const rows = names.map((name) => {
      const m = data.models.find((x) => x.name === name);
      return [
        h('a', { href: `#/history?model=${encodeURIComponent(name)}` }, name),
        m ? (m.enabled ? 'yes' : 'no') : 'yes',
        String(serving.get(name) ?? 0),
        m?.maxConcurrency === null || !m ? '-' : String(m.maxConcurrency),
        m ? m.source : h('span', { class: 'muted' }, 'loaded by a worker, not registered'),
        m?.engineArgs.join(' ') ?? '',
      ];
    });
    replace(
      root,
      h('h1', null, 'Models'),
      table(
        ['Model', 'Enabled', 'Workers', 'Max concurrency', 'Source', 'Engine arguments'],
        rows,
        'No models: none is registered and no worker is running.',
        { 'data-table': 'models' },
      ),
    );
  } catch (error) {
    showError(root, error);
  }
};
