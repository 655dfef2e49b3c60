import type { HandlerBatch, HandlerResult } from '../sdk/index.ts';
import type { LabelConfigNames } from './label-config.ts';
import { promptText, promptTurns } from './prompt.ts';

interface TaskOptions extends LabelConfigNames {
  modelVersion?: string | undefined;
}

/**
 * A Label Studio task (the import format of POST /api/projects/{id}/import, see
 * label_studio/data_import/api.py): in `data` the prompt (`messages` as turns for the
 * Paragraphs tag, `prompt` as text), the answer under `textKey`, and `batch_id` and
 * `custom_id`, by which the gateway's webhook maps an annotation back to its result, and the
 * result's `metadata` when handlers that ran before attached some (for the labeling config to
 * show, `$metadata.topic`, and for filters); the answer again as a TextArea prediction, so
 * that the reviewer corrects it in place.
 */
export function toTask(result: HandlerResult, batch: HandlerBatch, options: TaskOptions) {
  const text = resultText(result);
  const turns = promptTurns(result.request);
  return {
    data: {
      messages: turns,
      prompt: promptText(turns),
      [options.textKey]: text,
      custom_id: result.custom_id,
      batch_id: batch.id,
      status_code: result.response?.status_code ?? null,
      ...(result.metadata ? { metadata: result.metadata } : {}),
    },
    predictions: [
      {
        model_version: options.modelVersion ?? batch.model ?? 'unknown',
        result: [{ from_name: options.fromName, to_name: options.toName, type: 'textarea', value: { text: [text] } }],
      },
    ],
  };
}

/** The text of a result: a chat message, a completion, or else the body (or error) as JSON. */
export function resultText(result: Pick<HandlerResult, 'response' | 'error'>): string {
  if (result.error) return `error ${result.error.code}: ${result.error.message}`;
  const body = result.response?.body as { choices?: { message?: { content?: unknown }; text?: unknown }[] } | undefined;
  const choice = body?.choices?.[0];
  if (typeof choice?.message?.content === 'string') return choice.message.content;
  if (typeof choice?.text === 'string') return choice.text;
  return JSON.stringify(result.response?.body ?? null);
}
