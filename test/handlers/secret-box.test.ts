import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox, decodeSecretsKey, openHandlerOptions, redactHandlerOptions, SecretsKeyError } from '../../core/secrets/index.ts';
import { defineHandler, secret, z } from '../../handlers/sdk/index.ts';
import { registryOf } from './support/registry.ts';

const key = () => new Uint8Array(randomBytes(32));

describe('the secret box', () => {
  it('opens what it sealed, and not under another option', async () => {
    const box = createSecretBox({ current: key() });
    const sealed = await box.seal('"s3cret-value"', 'handlers.webhook.secret');
    expect(sealed.$sealed).toMatch(/^v1\.[0-9a-f]{8}\.[\w-]{16}\.[\w-]+$/);
    expect(sealed.$sealed).not.toContain('s3cret');
    expect(await box.open(sealed, 'handlers.webhook.secret')).toBe('"s3cret-value"');
    await expect(box.open(sealed, 'handlers.labelStudio.token')).rejects.toThrow('does not decrypt with key');
  });

  it('says which key a value needs when the process holds neither', async () => {
    const sealed = await createSecretBox({ current: key() }).seal('"x"', 'handlers.webhook.secret');
    const other = createSecretBox({ current: key() });
    const error = await other.open(sealed, 'handlers.webhook.secret').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretsKeyError);
    expect((error as Error).message).toMatch(
      /^handlers\.webhook\.secret was encrypted with key [0-9a-f]{8}, which this process does not hold \(SECRETS_KEY is key [0-9a-f]{8}\)/,
    );
  });

  it('opens sealed values only in the options the handler marks secret', async () => {
    const box = createSecretBox({ current: key() });
    const options = {
      url: await box.seal('"https://other.example/"', 'handlers.webhook.url'),
      secret: await box.seal('"s3cret-value"', 'handlers.webhook.secret'),
    };
    const opened = (await openHandlerOptions(box, 'webhook', options, ['secret', 'headers'])) as Record<string, unknown>;
    expect(opened.secret).toBe('s3cret-value');
    expect(opened.url).toEqual(options.url);
    expect(await openHandlerOptions(box, 'webhook', { url: options.url }, ['secret'])).toEqual({ url: options.url });
  });

  it('refuses a damaged value', async () => {
    const box = createSecretBox({ current: key() });
    const sealed = await box.seal('"x"', 'l');
    const [v, id, iv, data] = sealed.$sealed.split('.');
    const flipped = `${data!.slice(0, -2)}${data!.endsWith('AA') ? 'BB' : 'AA'}`;
    await expect(box.open({ $sealed: [v, id, iv, flipped].join('.') }, 'l')).rejects.toThrow(SecretsKeyError);
    await expect(box.open({ $sealed: 'v2.abc' }, 'l')).rejects.toThrow('damaged');
  });

  it('reads keys of 32 bytes in base64 or base64url, and nothing else', () => {
    const bytes = randomBytes(32);
    expect(decodeSecretsKey(bytes.toString('base64'))).toEqual(new Uint8Array(bytes));
    expect(decodeSecretsKey(bytes.toString('base64url'))).toEqual(new Uint8Array(bytes));
    expect(decodeSecretsKey(randomBytes(16).toString('base64'))).toBeNull();
    expect(decodeSecretsKey('not a key at all, just a passphrase')).toBeNull();
  });
});

describe('marking options secret', () => {
  it('masks only the marked options, and every option of a handler that is not installed', () => {
    const crm = defineHandler({
      name: 'crm',
      description: 'A handler with an API key per batch.',
      options: z.object({ account: z.string(), apiKey: secret(z.string().min(8)).optional().describe('The CRM key.') }),
      handle: async () => {},
    });
    const registry = registryOf([crm]);
    expect(registry.get('crm')?.secretOptions).toEqual(['apiKey']);
    const masked = redactHandlerOptions(
      { crm: { account: 'acme', apiKey: 'key-12345678' }, gone: { url: 'https://x.example', token: 't' } },
      (name) => registry.get(name)?.secretOptions,
    );
    expect(masked).toEqual({ crm: { account: 'acme', apiKey: '********' }, gone: { url: '********', token: '********' } });
  });

  it('refuses a secret mark inside another option', () => {
    const nested = defineHandler({
      name: 'nested',
      description: 'Marks a nested field.',
      options: z.object({ auth: z.object({ user: z.string(), password: secret(z.string()) }) }),
      handle: async () => {},
    });
    expect(() => registryOf([nested])).toThrow(
      'option auth.password is marked secret inside another option; mark the whole top-level option "auth" secret instead',
    );
  });
});
