import { describe, expect, it } from 'vitest';
import { createHandlerRegistry, defineHandler, HandlerOptionsError, installHandler, toInputSpec, z } from '../../handlers/sdk/index.ts';

const example = defineHandler({
  name: 'example',
  description: 'An example handler.',
  options: z.object({
    url: z.url({ error: 'expected a URL' }).describe('Where to send.'),
    retries: z.number().int().min(0).default(3).describe('How often.'),
    ratio: z.number().optional(),
    enabled: z.boolean().default(true),
    mode: z.enum(['fast', 'careful']).default('fast').describe('How to go.'),
    tags: z.array(z.string()).optional(),
    target: z
      .object({ table: z.string().describe('The table.'), schema: z.string().optional() })
      .optional()
      .describe('Where to write.'),
    headers: z.record(z.string(), z.string()).optional(),
    note: z.string().nullable().optional(),
  }),
  deploymentOptions: z.object({ token: z.string().optional() }),
  check: (options, deployment) =>
    options.mode === 'careful' && !deployment.token ? [{ path: ['mode'], message: 'careful needs a token' }] : [],
  handle: async () => {},
});

const registryOf = (deployment: unknown = {}) =>
  createHandlerRegistry([installHandler(example, deployment, { manifest: '/m.json', module: './example.ts' })]);

describe('the GraphQL input description of handler options', () => {
  const spec = toInputSpec('ExampleHandlerOptions', example.options, example.description);
  const field = (name: string) => spec.fields.find((f) => f.name === name);

  it('keeps the description and one field per option', () => {
    expect(spec.description).toBe('An example handler.');
    expect(spec.fields.map((f) => f.name)).toEqual(['url', 'retries', 'ratio', 'enabled', 'mode', 'tags', 'target', 'headers', 'note']);
  });

  it('maps scalars, requiredness, defaults and descriptions', () => {
    expect(field('url')).toMatchObject({ type: { kind: 'scalar', name: 'String' }, required: true, description: 'Where to send.' });
    expect(field('retries')).toMatchObject({
      type: { kind: 'scalar', name: 'Int' },
      required: false,
      defaultValue: 3,
      description: 'How often.',
    });
    expect(field('ratio')).toMatchObject({ type: { kind: 'scalar', name: 'Float' }, required: false });
    expect(field('enabled')).toMatchObject({ type: { kind: 'scalar', name: 'Boolean' }, defaultValue: true });
    expect(field('note')).toMatchObject({ type: { kind: 'scalar', name: 'String' }, required: false });
  });

  it('maps enums, lists and nested objects to named types', () => {
    expect(field('mode')?.type).toEqual({
      kind: 'enum',
      name: 'ExampleHandlerOptionsMode',
      description: 'How to go.',
      values: ['fast', 'careful'],
    });
    expect(field('tags')?.type).toEqual({ kind: 'list', of: { kind: 'scalar', name: 'String' } });
    expect(field('target')?.type).toMatchObject({
      kind: 'object',
      name: 'ExampleHandlerOptionsTarget',
      description: 'Where to write.',
      fields: [
        { name: 'table', required: true, description: 'The table.' },
        { name: 'schema', required: false },
      ],
    });
  });

  it('falls back to the JSON scalar for what GraphQL inputs cannot say', () => {
    expect(field('headers')?.type).toEqual({ kind: 'scalar', name: 'JSON' });
  });

  it('refuses an option name that is not a GraphQL name', () => {
    expect(() => toInputSpec('X', z.object({ 'bad-name': z.string() }))).toThrow(/"bad-name".*not a valid GraphQL name/);
  });
});

describe("validating a batch's handler options", () => {
  it('applies defaults and keeps valid options', () => {
    const parsed = registryOf().parseBatchHandlers({ example: { url: 'https://example.test/hook', note: null } });
    expect(parsed).toEqual({ example: { url: 'https://example.test/hook', retries: 3, enabled: true, mode: 'fast' } });
  });

  it('names the handler and the option in every problem', () => {
    const error = (() => {
      try {
        registryOf().parseBatchHandlers({ example: { url: 'nope', retries: 1.5, extra: 1 } });
      } catch (e) {
        return e as HandlerOptionsError;
      }
    })();
    expect(error).toBeInstanceOf(HandlerOptionsError);
    expect(error?.issues.map((i) => i.path).sort()).toEqual(['handlers.example.extra', 'handlers.example.retries', 'handlers.example.url']);
    expect(error?.message).toContain('handlers.example.url: expected a URL');
    expect(error?.message).toContain('handlers.example.extra: unknown option');
  });

  it('says a required option is required', () => {
    expect(() => registryOf().parseBatchHandlers({ example: {} })).toThrow('handlers.example.url: required (expected a URL)');
  });

  it('rejects a handler that is not installed, listing the installed ones', () => {
    expect(() => registryOf().parseBatchHandlers({ nosuch: {} })).toThrow(
      'handlers.nosuch: no handler named "nosuch" is installed (installed: example)',
    );
  });

  it('runs the cross-field check against the deployment options', () => {
    expect(() => registryOf().parseBatchHandlers({ example: { url: 'https://x.test', mode: 'careful' } })).toThrow(
      'handlers.example.mode: careful needs a token',
    );
    expect(registryOf({ token: 't' }).parseBatchHandlers({ example: { url: 'https://x.test', mode: 'careful' } }).example).toMatchObject({
      mode: 'careful',
    });
  });

  it('treats an absent handlers object as no handlers', () => {
    expect(registryOf().parseBatchHandlers(undefined)).toEqual({});
    expect(() => registryOf().parseBatchHandlers([1])).toThrow('handlers: expected an object keyed by handler name');
  });
});

describe('defining a handler', () => {
  it('refuses a name that cannot be a GraphQL field', () => {
    expect(() => defineHandler({ name: 'my-handler', description: '', options: z.object({}), handle: async () => {} })).toThrow(
      /must match/,
    );
  });

  it('gives a handler without options an input type that GraphQL accepts', () => {
    expect(toInputSpec('NoneHandlerOptions', z.object({})).fields).toHaveLength(1);
  });
});
