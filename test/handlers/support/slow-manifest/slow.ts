import { defineHandler, z } from '../../../../handlers/sdk/index.ts';

/** A handler whose first attempt never ends on its own (until its process dies), and whose later attempts succeed. */
export default defineHandler({
  name: 'slow',
  description: 'Hangs on its first attempt; succeeds on the next.',
  options: z.object({}),
  async handle(context) {
    if (context.attempt > 1) return { finishedOnAttempt: context.attempt, checkpoint: context.checkpoint };
    await context.saveCheckpoint({ started: true });
    context.logger.info('slow handler is running');
    await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }));
    throw new Error('aborted');
  },
});
