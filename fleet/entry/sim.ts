// The simulator as a process, with vLLM's command line: `bun fleet/entry/sim.ts serve org/Model
// --served-model-name NAME --port 8100 --max-num-seqs 256`, or the older `--model NAME --slots 256`.
import { createSimulator, parseSimArgs, serveOverNodeHttp, SIM_USAGE } from '../sim/index.ts';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(SIM_USAGE);
  process.exit(0);
}

const log = (level: string, msg: string, fields: Record<string, unknown> = {}) =>
  console.error(JSON.stringify({ level, msg, service: 'sim', ...fields }));

let args: ReturnType<typeof parseSimArgs>;
try {
  args = parseSimArgs(process.argv.slice(2));
} catch (error) {
  console.error(`${(error as Error).message}\n${SIM_USAGE}`);
  process.exit(2);
}
if (args.ignored.length) log('warn', 'vLLM flags the simulator does not model, ignored', { flags: args.ignored });

const simulator = createSimulator({
  ...args,
  onCrash: () => {
    log('error', 'simulator crashing on purpose (--crash-after)');
    process.exit(1);
  },
});
// llama-server drops the connection after each stream although it advertises Keep-Alive (cpp-httplib's
// "timeout=5, max=5"): modelled on node:http, where a socket can be reset; the other engines on Bun.serve.
const server =
  args.profile === 'llamacpp'
    ? await serveOverNodeHttp({ simulator, port: args.port, hostname: args.host, keepAlive: 'timeout=5, max=5' })
    : (() => {
        const bun = Bun.serve({ port: args.port, hostname: args.host, fetch: simulator.fetch, idleTimeout: 0 });
        return { port: bun.port ?? args.port, close: () => bun.stop(false) };
      })();
log('info', `simulated ${args.profile === 'vllm' ? 'vLLM' : args.profile} engine listening (no GPU: replies are made up)`, {
  url: `http://${args.host}:${server.port}`,
  profile: args.profile,
  models: args.models,
  source: args.source,
  slots: args.slots,
  maxNumBatchedTokens: args.maxNumBatchedTokens,
  maxModelLen: args.maxModelLen,
  ttftMs: args.ttftMs,
  tpotMs: args.tpotMs,
  capacityTokensPerSecond: Math.round((args.slots * 1000) / args.tpotMs),
});

// As `vllm serve` with its default shutdown_timeout=0 (v1/engine/core.py _handle_shutdown): every
// request in flight is aborted, so its stream ends with finish_reason "abort", the usage chunk and
// [DONE]; the server then closes once those last bytes are out (a second or so at most).
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  simulator.close();
  setTimeout(() => process.exit(0), 1000).unref?.();
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
