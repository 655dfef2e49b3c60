// `npm run fleet -- --gpus 0,1 --engine vllm` (or `--engine-url URL0,URL1`, or `--engine-cmd TEMPLATE` for another engine): one worker per GPU.
import '../fleet/entry/supervisor.ts';
