// The handler SDK: what a handler module imports, and what the gateway and fleet use to load handlers.
export { z } from 'zod';
export * from './context.ts';
export {
  defineHandler,
  isHandlerDefinition,
  HANDLER_NAME,
  type AnyHandler,
  type CheckIssue,
  type HandlerDefinition,
} from './define-handler.ts';
export { HandlerError, HandlerOptionsError, ManifestError, type HandlerErrorOptions, type OptionIssue } from './errors.ts';
export {
  ANY_DESTINATION,
  checkDestination,
  destinationGuard,
  guardedFetch,
  hostsOf,
  literalDestinationProblem,
  nonPublicKind,
  type DestinationPolicy,
  type LookupAll,
} from './destinations.ts';
export { expandEnv } from './expand-env.ts';
export { contentText } from './message-text.ts';
export { toInputSpec, toJsonSchema, type InputFieldSpec, type InputObjectSpec, type InputTypeSpec } from './input-spec.ts';
export { loadHandlerRegistry, manifestSchema, type LoadManifestsOptions } from './manifest.ts';
export { dropNulls } from './options.ts';
export { secret, secretOptionNames } from './secret.ts';
export { createHandlerRegistry, installHandler, inputTypeName, type HandlerRegistry, type InstalledHandler } from './registry.ts';
export { httpError, isRetryableStatus, retryAfterMs } from './http.ts';
export {
  signWebhook,
  verifyWebhook,
  webhookHeaders,
  webhookSecretProblem,
  WebhookVerificationError,
  WEBHOOK_HEADERS,
  type SignWebhookOptions,
  type VerifyWebhookOptions,
} from './webhook-signature.ts';
export { createTestContext, type TestContextOptions } from './testing.ts';
