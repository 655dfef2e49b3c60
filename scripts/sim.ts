// `npm run sim -- --port 8100 --model NAME --slots 256 --ttft-ms 40 --tpot-ms 8 [fault switches]`: the vLLM simulator.
import '../fleet/entry/sim.ts';
