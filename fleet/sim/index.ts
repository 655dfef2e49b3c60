export { createSimulator, type Simulator, type SimulatorOptions } from './simulator.ts';
export { SIM_DEFAULTS, type SimOptions } from './options.ts';
export { parseSimArgs, SIM_USAGE, type SimArgs } from './cli.ts';
export { planReply, hashText, type Plan } from './content.ts';
export { serveOverNodeHttp, type NodeServedSimulator } from './serve-node.ts';
export { SIM_PROFILES, type SimProfile } from './options.ts';
