import { startLabelStudioStandin } from '../support/label-studio-standin.ts';
import type { HandlerHarness } from './harness.ts';

/** Label Studio holds one task per result, in project 7. */
export const labelStudioHarness: HandlerHarness = {
  name: 'labelStudio',
  invalid: [
    { options: { projectId: 0 }, problem: 'handlers.labelStudio.projectId: expected a Label Studio project id' },
    { options: { projectId: 3, url: 'nope' }, problem: 'handlers.labelStudio.url: expected a URL' },
    { options: { projectId: 3, chunkSize: 0 }, problem: 'handlers.labelStudio.chunkSize' },
    { options: { projectId: undefined }, problem: 'handlers.labelStudio.projectId: required' },
  ],
  async start() {
    const server = await startLabelStudioStandin({ projects: [7] });
    const tasks = (batchId: string) => (server.projects.get(7)?.tasks ?? []).filter((t) => t.data.batch_id === batchId);
    return {
      options: { projectId: 7, chunkSize: 250, setLabelConfig: false },
      deployment: { url: server.url, token: server.token },
      count: async (batchId) => tasks(batchId).length,
      expected: (n) => n,
      duplicates: async (batchId) => tasks(batchId).length - new Set(tasks(batchId).map((t) => t.data.custom_id)).size,
      async failAfter(okFirst) {
        server.failRequest(okFirst);
      },
      close: () => server.close(),
    };
  },
};
