export * from './batch-status.ts';
export * from './request-state.ts';
export * from './handler-run-status.ts';
export { sqlList } from './sql-list.ts';
export * from './annotation-source.ts';
