export {
  createSecretBox,
  decodeSecretsKey,
  isSealed,
  MAKE_SECRETS_KEY,
  SecretsKeyError,
  type SealedValue,
  type SecretBox,
  type SecretKeys,
} from './secret-box.ts';
export {
  openHandlerOptions,
  redactHandlerOptions,
  resealHandlerOptions,
  sealHandlerOptions,
  SECRET_MASK,
  type SecretOptionsOf,
} from './handler-options.ts';
export { secretBoxOf, secretsKeyProblem, secretsVariables } from './variables.ts';
export { resealBatches, type ResealOutcome } from './reseal-batches.ts';
