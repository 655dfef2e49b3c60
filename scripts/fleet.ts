// `npm run fleet -- --gpus 0,1 --engine-url URL0,URL1` or `--engine-cmd 'vllm serve {model} --port {port}'`: one worker per GPU.
import '../fleet/entry/supervisor.ts';
