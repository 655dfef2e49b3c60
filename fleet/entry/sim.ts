// The simulator as a process: `bun fleet/entry/sim.ts --port 8100 --model NAME --slots 256 --ttft-ms 40 --tpot-ms 8`.
import { createSimulator, parseSimArgs, SIM_USAGE } from '../sim/index.ts';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(SIM_USAGE);
  process.exit(0);
}

let args: ReturnType<typeof parseSimArgs>;
try {
  args = parseSimArgs(process.argv.slice(2));
} catch (error) {
  console.error(`${(error as Error).message}\n${SIM_USAGE}`);
  process.exit(2);
}

const simulator = createSimulator({
  ...args,
  onCrash: () => {
    console.error(JSON.stringify({ level: 'error', msg: 'simulator crashing on purpose (--crash-after)', service: 'sim' }));
    process.exit(1);
  },
});
const server = Bun.serve({ port: args.port, hostname: args.host, fetch: simulator.fetch, idleTimeout: 0 });
const capacity = Math.round((args.slots * 1000) / args.tpotMs);
console.error(
  JSON.stringify({
    level: 'info',
    msg: 'simulated vLLM engine listening (no GPU: replies are made up)',
    service: 'sim',
    url: `http://${args.host}:${server.port}`,
    models: args.models,
    slots: args.slots,
    ttftMs: args.ttftMs,
    tpotMs: args.tpotMs,
    capacityTokensPerSecond: capacity,
  }),
);
const stop = () => {
  simulator.close();
  void server.stop(true);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
