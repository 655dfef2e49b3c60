import { writeJson, type Command } from '../command.ts';
import { EXIT } from '../exit-codes.ts';
import { formatTable } from '../format.ts';

interface RegisteredModel {
  name: string;
  source: string;
  enabled: boolean;
  maxConcurrency: number | null;
  engineArgs: string[];
}

/** A model as `vbs models` shows it: the registry entry (if any) and the live workers serving it. */
export interface ModelView {
  name: string;
  /** Where the weights come from; null for a model a worker loaded that the registry does not list. */
  source: string | null;
  enabled: boolean;
  registered: boolean;
  maxConcurrency: number | null;
  engineArgs: string[];
  workers: number;
}

const QUERY = '{ models { name source enabled maxConcurrency engineArgs } workers { model } }';

/** `vbs models`. */
export const models: Command = {
  name: 'models',
  summary: 'List the models: the registry and what live workers serve',
  usage: `vbs models [--json]

Every model of the registry and every model a live worker has loaded, with the number of
workers serving it. A batch's requests may name any model listed as enabled.`,
  options: {},
  positionals: [0, 0],
  async run({ client, stdout, json }) {
    const data = await client.graphql<{ models: RegisteredModel[]; workers: { model: string | null }[] }>(QUERY);
    const serving = new Map<string, number>();
    for (const w of data.workers) if (w.model) serving.set(w.model, (serving.get(w.model) ?? 0) + 1);
    const views: ModelView[] = data.models.map((m) => ({ ...m, registered: true, workers: serving.get(m.name) ?? 0 }));
    for (const [name, workers] of serving) {
      if (!views.some((v) => v.name === name))
        views.push({ name, source: null, enabled: true, registered: false, maxConcurrency: null, engineArgs: [], workers });
    }
    views.sort((a, b) => a.name.localeCompare(b.name));
    if (json) writeJson(stdout, views);
    else if (!views.length) stdout.write('No models: none is registered and no worker is running.\n');
    else {
      const rows = views.map((v) => [
        v.name,
        v.enabled ? 'yes' : 'no',
        String(v.workers),
        v.maxConcurrency === null ? '-' : String(v.maxConcurrency),
        v.source ?? '(loaded by a worker, not registered)',
      ]);
      stdout.write(formatTable(['MODEL', 'ENABLED', 'WORKERS', 'MAX CONCURRENCY', 'SOURCE'], rows));
    }
    return EXIT.OK;
  },
};
