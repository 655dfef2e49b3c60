// `npm run sim -- serve SOURCE --served-model-name NAME --port 8100 --max-num-seqs 256 [...]`: the vLLM simulator (see SIM_USAGE).
import '../fleet/entry/sim.ts';
