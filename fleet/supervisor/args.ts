import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { ENGINE_PRESETS, templateProblem } from '../worker/engine-command.ts';
import { RUNTIMES } from './runtimes.ts';

/** What the supervisor runs: one worker per GPU, each with an engine URL or an owned engine. */
export interface SupervisorArgs {
  gpus: string[];
  /** One engine URL per GPU, or null when the workers start their own engines. */
  engineUrls: string[] | null;
  /** The engine preset the workers start (`vllm`), or null. */
  engine: (typeof ENGINE_PRESETS)[number] | null;
  /** The command template of another engine (`my-engine {model} --name {name} --port {port}`), or null. */
  engineCmd: string | null;
  /** The port of GPU i's owned engine is enginePort + i. */
  enginePort: number;
  model: string | null;
  runtime: string;
  host: string;
  /** Worker i serves its Prometheus metrics on metricsPort + i; null, none. */
  metricsPort: number | null;
}

/** The supervisor's usage line. */
export const FLEET_USAGE = `usage: npm run fleet -- --gpus 0,1 (--engine vllm | --engine-url URL0,URL1 | --engine-cmd TEMPLATE)
  [--engine-port 8000] [--model NAME] [--runtime ${Object.keys(RUNTIMES).join('|')}] [--host NAME] [--metrics-port 9400]
  --engine vllm: each worker starts \`$VLLM_BIN serve SOURCE --served-model-name NAME --port PORT --host 127.0.0.1
    [--max-num-seqs MAX_CONCURRENCY] ENGINE_ARGS\` for the registry's model (VLLM_BIN defaults to vllm).
  --engine-url: engines already running, one per GPU.
  --engine-cmd: another engine, e.g. 'my-engine {model} --name {name} --port {port} {args}': {model} is the registry's
    source, {name} the name it must serve the model under (required), {port} the engine's port (required), {gpu} the GPU,
    {args} its engine arguments.`;

/** Parses the supervisor's command line; throws an Error saying what is wrong. */
export function parseSupervisorArgs(argv: string[]): SupervisorArgs {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      gpus: { type: 'string' },
      engine: { type: 'string' },
      'engine-url': { type: 'string' },
      'engine-cmd': { type: 'string' },
      'engine-port': { type: 'string', default: '8000' },
      model: { type: 'string' },
      runtime: { type: 'string', default: 'bun' },
      host: { type: 'string' },
      'metrics-port': { type: 'string' },
    },
  });
  const list = (v: string | undefined) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const gpus = list(values.gpus);
  if (gpus.length === 0) throw new Error('--gpus is required: the GPUs to run a worker on, e.g. --gpus 0,1');
  const urls = values['engine-url'] ? list(values['engine-url']) : null;
  const cmd = values['engine-cmd'] ?? null;
  const engine = values.engine ?? null;
  if ([urls, cmd, engine].filter(Boolean).length !== 1) {
    throw new Error(
      'give exactly one of --engine-url (engines already running, one URL per GPU), --engine vllm (start vLLM) or --engine-cmd (a command template for another engine)',
    );
  }
  if (engine && !ENGINE_PRESETS.some((p) => p === engine))
    throw new Error(`--engine ${engine} is unknown; use one of ${ENGINE_PRESETS.join(', ')}, or --engine-cmd for another engine`);
  if (urls && urls.length !== gpus.length)
    throw new Error(`--engine-url has ${urls.length} URL(s) for ${gpus.length} GPU(s); give one per GPU`);
  const port = Number(values['engine-port']);
  if (!Number.isInteger(port) || port < 1 || port > 65535 - gpus.length) throw new Error('--engine-port must be a port number');
  const runtime = values.runtime ?? 'bun';
  if (!RUNTIMES[runtime]) throw new Error(`--runtime ${runtime} is unknown; use one of ${Object.keys(RUNTIMES).join(', ')}`);
  const problem = cmd ? templateProblem(cmd) : null;
  if (problem) throw new Error(`--engine-cmd: ${problem}`);
  const metricsPort = values['metrics-port'] === undefined ? null : Number(values['metrics-port']);
  if (metricsPort !== null && (!Number.isInteger(metricsPort) || metricsPort < 1 || metricsPort > 65535 - gpus.length)) {
    throw new Error('--metrics-port must be a port number: worker i serves /metrics on it plus i');
  }
  return {
    gpus,
    engineUrls: urls,
    engine: engine as SupervisorArgs['engine'],
    engineCmd: cmd,
    enginePort: port,
    model: values.model ?? null,
    runtime,
    host: values.host ?? hostname(),
    metricsPort,
  };
}
