export { createHandlerRunner, type HandlerRunner, type HandlerRunnerOptions } from './runner.ts';
export { executeRun, type RunOutcome } from './execute-run.ts';
export { toHandlerBatch } from './batch-object.ts';
export { streamResults } from './results.ts';
export { handlerRunnerLoop, loadFleetHandlers } from './background-loop.ts';
