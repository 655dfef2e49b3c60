import { afterAll } from 'vitest';
import { killLeftoverProcesses } from '../helpers/processes.ts';

// After each test file: a process it started and never stopped (its test timed out) is killed.
afterAll(() => {
  const killed = killLeftoverProcesses();
  if (killed > 0) console.warn(`killed ${killed} process(es) this test file started and never stopped`);
});
