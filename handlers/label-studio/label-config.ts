/** The names the labeling configuration gives its tags and the task data keys it reads. */
export interface LabelConfigNames {
  /** The task data key (and Text tag) holding the model's answer. */
  textKey: string;
  /** The TextArea the answer is pre-filled into as a prediction, and the reviewer corrects. */
  fromName: string;
  /** The Text tag showing the answer, which the controls refer to. */
  toName: string;
}

/** The value of the one Choice of the gold-star Choices tag: checked, the result is gold. */
export const GOLD_CHOICE = 'Gold';

/** The default names: the answer in `data.response`, corrected in the `correction` TextArea. */
export const LABEL_CONFIG_NAMES: LabelConfigNames = { textKey: 'response', fromName: 'correction', toName: 'response' };

const attribute = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * The labeling configuration for reviewing a batch's results in Label Studio
 * (https://labelstud.io/tags/): the conversation (`data.messages`, the prompt's turns as
 * `{role, content}`, shown by a Paragraphs tag in its dialogue layout), the answer, a gold-star
 * checkbox, a 1–5 star Rating and a TextArea pre-filled with the answer to correct it. The
 * gateway's Label Studio webhook reads these controls back by their type: `choices` (gold),
 * `rating`, `textarea` (correction).
 */
export function labelConfig({ textKey, fromName, toName }: LabelConfigNames = LABEL_CONFIG_NAMES): string {
  const [text, from, to] = [textKey, fromName, toName].map(attribute);
  return `<View>
  <Header value="Prompt"/>
  <Paragraphs name="prompt" value="$messages" layout="dialogue" nameKey="role" textKey="content"/>
  <Header value="Answer"/>
  <Text name="${to}" value="$${text}"/>
  <Choices name="gold" toName="${to}" choice="multiple" showInline="true">
    <Choice value="${GOLD_CHOICE}" hint="A gold star: an answer good enough to learn from" hotkey="g"/>
  </Choices>
  <Rating name="rating" toName="${to}" maxRating="5" icon="star" size="medium"/>
  <Header value="Correction (edit the answer if it is wrong)"/>
  <TextArea name="${from}" toName="${to}" editable="true" maxSubmissions="1" rows="8"/>
</View>`;
}

/** {@link labelConfig} with the default names: paste it into a project's Labeling Interface (Code). */
export const LABEL_CONFIG = labelConfig();
