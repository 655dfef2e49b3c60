/** What an owned engine is started with: a model of the registry. */
export interface ModelSpec {
  name: string;
  source: string;
  engineArgs: string[];
  /** The registry's max_concurrency: the engine's sequence slots (vLLM's --max-num-seqs), or null for the engine's default. */
  maxConcurrency: number | null;
}

/** How a worker starts its own engine: the vLLM preset (`--engine vllm`), or a command template for another engine. */
export type EngineLaunch = { preset: 'vllm'; bin: string } | { template: string };

/** The engines with a preset (`--engine NAME`, ENGINE=NAME). */
export const ENGINE_PRESETS = ['vllm'] as const;

const quote = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);

/** The command line for a model: the template with its placeholders filled in, shell-quoted. */
export function renderEngineCommand(
  template: string,
  { model, port, gpu }: { model: Omit<ModelSpec, 'maxConcurrency'>; port: number; gpu: string },
): string {
  const values: Record<string, string> = {
    model: quote(model.source),
    name: quote(model.name),
    port: String(port),
    gpu: quote(gpu),
    args: model.engineArgs.map(quote).join(' '),
  };
  return template.replace(/\{(model|name|port|gpu|args)\}/g, (_, key: string) => values[key] ?? '');
}

/**
 * Why a command template cannot start a fleet's engine, or null when it can. Requests name the
 * registry's model, so the engine must serve it under that name; vLLM without
 * --served-model-name serves it under its path, and every request would be refused as an
 * unknown model, released and leased again.
 */
export function templateProblem(template: string): string | null {
  if (!template.includes('{name}')) {
    return 'the engine command has no {name}: the engine must serve each model under its registry name, the one requests ask for (vLLM: --served-model-name {name}); or use the preset, --engine vllm';
  }
  if (!template.includes('{port}'))
    return 'the engine command has no {port}: the worker reaches its engine on the port it gives it (vLLM: --port {port})';
  return null;
}

/** The flags the preset sets itself, and why a model's engine_args may not. */
const FLEET_FLAGS: Record<string, string> = {
  '--served-model-name': 'requests name the model by its registry name',
  '--port': 'the worker reaches its engine on the port the fleet gives it',
  '--host': 'the engine listens on 127.0.0.1 only; it has no authentication of its own',
  '--uds': 'the worker reaches its engine on a TCP port',
};

/** The value an argument list gives a flag (`--flag v` or `--flag=v`; vLLM reads `_` in flag names as `-`), or undefined. */
const flagValue = (args: string[], flag: string): string | undefined => {
  let value: string | undefined;
  args.forEach((arg, i) => {
    const [key = '', inline] = arg.split(/=(.*)/s);
    if (key.replace(/_/g, '-') !== flag) return;
    value = inline ?? args[i + 1] ?? '';
  });
  return value;
};

/**
 * The vLLM preset's command: `BIN serve SOURCE --served-model-name NAME --port PORT --host 127.0.0.1
 * [--max-num-seqs MAX_CONCURRENCY] ...engine_args`. Throws when the model's engine_args set a
 * flag the preset sets (vLLM's parser lets the last one win, so theirs would).
 */
export function renderVllmCommand(bin: string, { model, port }: { model: ModelSpec; port: number }): string {
  for (const [flag, why] of Object.entries(FLEET_FLAGS)) {
    if (flagValue(model.engineArgs, flag) !== undefined) {
      throw new Error(
        `model ${model.name}: its engine_args set ${flag}, which the fleet sets itself (${why}); remove it from the registry's engine_args`,
      );
    }
  }
  const seqs = flagValue(model.engineArgs, '--max-num-seqs');
  if (model.maxConcurrency !== null && seqs !== undefined && Number(seqs) !== model.maxConcurrency) {
    throw new Error(
      `model ${model.name}: its engine_args set --max-num-seqs ${seqs} but its max_concurrency is ${model.maxConcurrency}; the fleet passes max_concurrency as --max-num-seqs: keep one`,
    );
  }
  const args = ['serve', model.source, '--served-model-name', model.name, '--port', String(port), '--host', '127.0.0.1'];
  if (model.maxConcurrency !== null) args.push('--max-num-seqs', String(model.maxConcurrency));
  return [bin, ...[...args, ...model.engineArgs].map(quote)].join(' ');
}

/** The command line an owned engine runs for a model. */
export function engineCommandLine(launch: EngineLaunch, target: { model: ModelSpec; port: number; gpu: string }): string {
  return 'preset' in launch ? renderVllmCommand(launch.bin, target) : renderEngineCommand(launch.template, target);
}
