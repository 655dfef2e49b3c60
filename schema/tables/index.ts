export * from './batches.ts';
export * from './files.ts';
export * from './handler-runs.ts';
export * from './models.ts';
export * from './requests.ts';
export * from './workers.ts';
