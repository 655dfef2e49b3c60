export { createSimulator, type Simulator, type SimulatorOptions } from './simulator.ts';
export { parseSimArgs, SIM_DEFAULTS, SIM_USAGE, type SimOptions } from './options.ts';
export { planReply, hashText, type Plan } from './content.ts';
