// In a repository of your own, import the SDK from the vllm-batch-server package instead:
// import { defineHandler, z } from 'vllm-batch-server/handlers/sdk';
import { defineHandler, z } from '../../../../handlers/sdk/index.ts';
import { answerText } from '../conversation.ts';
import { extractMetadata } from './extract.ts';

/** Results between two checkpoints: a retry redoes at most this many (attaching metadata twice is harmless). */
const CHECKPOINT_EVERY = 200;

const isPattern = (source: string) => {
  try {
    new RegExp(source, 'im');
    return true;
  } catch {
    return false;
  }
};

/**
 * Reads each answer of a completed batch and attaches what it finds as the result's
 * metadata (format, words, language, topic, a JSON answer's fields), for reviewers to filter
 * on and for handlers that run after it (`after: ['extractMetadata']`) to use.
 */
export default defineHandler({
  name: 'extractMetadata',
  description:
    "Attaches metadata read from each answer to its result when the batch completes: format (json or text), words, language, a topic matched by topicPattern, and a JSON answer's fields.",
  options: z.object({
    topicPattern: z
      .string()
      .max(500)
      .refine(isPattern, { error: 'expected a JavaScript regular expression, such as ^Topic: (.+)$' })
      .optional()
      .describe(
        "A regular expression matched against each answer (case-insensitive, ^ and $ at line ends); its first group, or the whole match, becomes the result's topic.",
      ),
    jsonFields: z
      .array(z.string().min(1))
      .max(50)
      .optional()
      .describe(
        'For answers that are a JSON object: the keys to copy into metadata.fields (default: every key with a string, number or boolean value).',
      ),
  }),
  events: ['completed'],
  async handle({ options, results, checkpoint, saveCheckpoint, setResultMetadata, logger }) {
    const topicPattern = options.topicPattern === undefined ? undefined : new RegExp(options.topicPattern, 'im');
    // Results come in line order, so the count of those done is where a retry resumes.
    const resumeFrom = (checkpoint as { done?: number } | null)?.done ?? 0;
    let seen = 0;
    let attached = 0;
    for await (const result of results()) {
      if (++seen <= resumeFrom) continue;
      const answer = answerText(result);
      if (answer !== null) {
        await setResultMetadata(result.custom_id, extractMetadata(answer, { topicPattern, jsonFields: options.jsonFields }));
        attached++;
      }
      if (seen % CHECKPOINT_EVERY === 0) await saveCheckpoint({ done: seen });
    }
    logger.info('metadata attached', { results: seen, attached, resumedAfter: resumeFrom });
    return { results: seen, attached, resumedAfter: resumeFrom };
  },
});
