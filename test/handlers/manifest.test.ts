import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILTIN_MANIFEST, loadHandlers, splitManifestList } from '../../handlers/index.ts';
import { loadHandlerRegistry, ManifestError } from '../../handlers/sdk/index.ts';
import { ROOT } from '../helpers/processes.ts';

const SDK = join(ROOT, 'handlers/sdk/index.ts');
const dir = mkdtempSync(join(tmpdir(), 'vbs-manifest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a file under the temp folder and returns its path. */
function write(name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const handlerModule = (name: string, deployment = 'z.object({ token: z.string().min(3, { error: "expected a token" }) })') => `
import { defineHandler, z } from ${JSON.stringify(SDK)};
export default defineHandler({
  name: ${JSON.stringify(name)},
  description: 'A test handler.',
  options: z.object({ label: z.string().describe('A label.') }),
  deploymentOptions: ${deployment},
  handle: async (context) => ({ token: context.deployment.token }),
});`;

async function failure(manifests: string[], env: Record<string, string> = {}): Promise<ManifestError> {
  try {
    await loadHandlerRegistry({ manifests, env });
  } catch (error) {
    if (error instanceof ManifestError) return error;
    throw error;
  }
  throw new Error('expected the manifests not to load');
}

describe('loading handler manifests', () => {
  it('loads the built-in manifest without any environment', async () => {
    const registry = await loadHandlers({ env: {} });
    expect(registry.handlers.map((h) => h.name)).toEqual(['webhook', 'labelStudio', 'postgresInsert']);
    expect(registry.handlers.every((h) => h.manifest === BUILTIN_MANIFEST)).toBe(true);
  });

  it('expands ${NAME} references from the given environment', async () => {
    const registry = await loadHandlers({ env: { WEBHOOK_SECRET: 'a-long-enough-secret', PUBLIC_URL: 'https://batch.example.test' } });
    expect(registry.get('webhook')?.deployment).toEqual({ secret: 'a-long-enough-secret', publicUrl: 'https://batch.example.test' });
  });

  it('loads a module named by a path relative to a manifest outside the repository', async () => {
    write('relative/handlers/audit.ts', handlerModule('audit'));
    const manifest = write(
      'relative/manifest.json',
      JSON.stringify({ handlers: [{ module: './handlers/audit.ts', options: { token: '${AUDIT_TOKEN}' } }] }),
    );
    const registry = await loadHandlers({ manifests: [manifest], env: { AUDIT_TOKEN: 'secret-token' } });
    expect(registry.get('audit')).toMatchObject({ manifest, module: './handlers/audit.ts', deployment: { token: 'secret-token' } });
    expect(registry.get('audit')?.input.name).toBe('AuditHandlerOptions');
  });

  it('loads a module named by a package installed next to the manifest', async () => {
    write(
      'pkg/node_modules/acme-handler/package.json',
      JSON.stringify({ name: 'acme-handler', type: 'module', exports: { '.': './index.ts' } }),
    );
    write('pkg/node_modules/acme-handler/index.ts', handlerModule('acme'));
    const manifest = write('pkg/manifest.json', JSON.stringify({ handlers: [{ module: 'acme-handler', options: { token: 'abc' } }] }));
    const registry = await loadHandlerRegistry({ manifests: [manifest], env: {} });
    expect(registry.get('acme')?.module).toBe('acme-handler');
  });

  it('loads an ESM-only package, and the import side of a dual package, installed next to the manifest', async () => {
    write(
      'esm/node_modules/@acme/esm-handler/package.json',
      JSON.stringify({ name: '@acme/esm-handler', type: 'module', exports: { '.': { types: './index.d.ts', import: './index.ts' } } }),
    );
    write('esm/node_modules/@acme/esm-handler/index.ts', handlerModule('esmOnly'));
    write(
      'esm/node_modules/dual-handler/package.json',
      JSON.stringify({
        name: 'dual-handler',
        exports: { '.': { require: './index.cjs', import: './index.ts' }, './extra/*': { import: './more/*.ts' } },
      }),
    );
    write('esm/node_modules/dual-handler/index.cjs', 'exports.default = { name: "dualCjs" };');
    write('esm/node_modules/dual-handler/index.ts', handlerModule('dual'));
    write('esm/node_modules/dual-handler/more/other.ts', handlerModule('dualExtra'));
    const manifest = write(
      'esm/manifest.json',
      JSON.stringify({
        handlers: ['@acme/esm-handler', 'dual-handler', 'dual-handler/extra/other'].map((module) => ({
          module,
          options: { token: 'abc' },
        })),
      }),
    );
    const registry = await loadHandlerRegistry({ manifests: [manifest], env: {} });
    expect(registry.handlers.map((h) => [h.name, h.module])).toEqual([
      ['esmOnly', '@acme/esm-handler'],
      ['dual', 'dual-handler'],
      ['dualExtra', 'dual-handler/extra/other'],
    ]);
  });

  it('splits HANDLER_MANIFESTS on colons', () => {
    expect(splitManifestList('/a/m.json::b/m.json ')).toEqual(['/a/m.json', 'b/m.json']);
    expect(splitManifestList(undefined)).toEqual([]);
  });
});

describe('a bad manifest', () => {
  it('names a file that does not exist', async () => {
    const missing = join(dir, 'missing.json');
    const error = await failure([missing]);
    expect(error.message).toContain(`Handler manifest ${missing}: cannot be read`);
  });

  it('names the file and the JSON problem', async () => {
    const file = write('bad-json.json', '{ "handlers": [ ');
    expect((await failure([file])).message).toMatch(new RegExp(`^Handler manifest ${file}: is not valid JSON`));
  });

  it('names the field when the shape is wrong', async () => {
    const file = write('bad-shape.json', JSON.stringify({ handlers: [{ path: './x.ts' }] }));
    expect((await failure([file])).message).toContain('handlers.0.module');
  });

  it('names a module that does not load, and why', async () => {
    const file = write('no-module.json', JSON.stringify({ handlers: [{ module: './does-not-exist.ts' }] }));
    const error = await failure([file]);
    expect(error.message).toContain(`Handler manifest ${file}: handlers[0] (./does-not-exist.ts): the module does not load`);
  });

  it('names a module whose code throws while loading', async () => {
    write('throws.ts', 'throw new Error("boom at import");');
    const file = write('throws.json', JSON.stringify({ handlers: [{ module: './throws.ts' }] }));
    expect((await failure([file])).message).toContain('boom at import');
  });

  it('names a module that is not a handler', async () => {
    write('not-handler.ts', 'export default { hello: 1 };');
    const file = write('not-handler.json', JSON.stringify({ handlers: [{ module: './not-handler.ts' }] }));
    expect((await failure([file])).message).toContain('does not default-export a handler');
  });

  it('names deployment options that do not validate', async () => {
    write('needs-token.ts', handlerModule('needsToken'));
    const file = write('bad-options.json', JSON.stringify({ handlers: [{ module: './needs-token.ts', options: { token: 'x' } }] }));
    const error = await failure([file]);
    expect(error.message).toContain('deployment options of handler "needsToken" do not validate: options.token: expected a token');
  });

  it('names a deployment option the handler does not have, so that a typo does not silently drop a secret', async () => {
    write('typo-token.ts', handlerModule('typoToken', 'z.object({ token: z.string().min(3), region: z.string().optional() })'));
    const file = write(
      'typo-options.json',
      JSON.stringify({ handlers: [{ module: './typo-token.ts', options: { token: 'abcd', regoin: 'eu' } }] }),
    );
    expect((await failure([file])).message).toContain(
      'deployment options of handler "typoToken" do not validate: options.regoin: unknown option',
    );
    write('no-options.ts', handlerModule('noOptions', 'undefined'));
    const none = write('no-options.json', JSON.stringify({ handlers: [{ module: './no-options.ts', options: { token: 'abcd' } }] }));
    expect((await failure([none])).message).toContain('options.token: unknown option');
  });

  it('names an environment variable that is not set', async () => {
    write('env-token.ts', handlerModule('envToken'));
    const file = write(
      'unset-env.json',
      JSON.stringify({ handlers: [{ module: './env-token.ts', options: { token: '${NOT_SET_ANYWHERE}' } }] }),
    );
    expect((await failure([file])).message).toContain('handlers[0].options.token: ${NOT_SET_ANYWHERE} is not set in the environment');
  });

  it('names both manifests when a handler name is installed twice', async () => {
    write('dup/webhook.ts', handlerModule('webhook', 'z.object({})'));
    const file = write('dup/manifest.json', JSON.stringify({ handlers: [{ module: './webhook.ts' }] }));
    const error = await failure([BUILTIN_MANIFEST, file]);
    expect(error.message).toContain(
      `Handler manifest ${file}: handlers[0] (./webhook.ts): a handler named "webhook" is already installed by ${BUILTIN_MANIFEST}`,
    );
  });
});

describe('the order a manifest gives its handlers', () => {
  const LABEL_STUDIO = join(ROOT, 'handlers/label-studio/index.ts');

  it('runs an entry after the handlers its "after" names, besides those of its definition', async () => {
    write('order/extract.ts', handlerModule('extractAnswers', 'z.object({})'));
    const manifest = write(
      'order/manifest.json',
      JSON.stringify({ handlers: [{ module: './extract.ts' }, { module: LABEL_STUDIO, after: ['extractAnswers'] }] }),
    );
    const registry = await loadHandlerRegistry({ manifests: [manifest], env: {} });
    expect(registry.after.labelStudio).toEqual(['extractAnswers']);
    expect(registry.after.extractAnswers).toBeUndefined();
  });

  it('orders a built-in handler from another manifest with a top-level "after"', async () => {
    write('order-top/extract.ts', handlerModule('extractFacts', 'z.object({})'));
    const manifest = write(
      'order-top/manifest.json',
      JSON.stringify({ handlers: [{ module: './extract.ts' }], after: { labelStudio: ['extractFacts'] } }),
    );
    const registry = await loadHandlers({ manifests: [manifest], env: {} });
    expect(registry.after.labelStudio).toEqual(['extractFacts']);
  });

  it('refuses an "after" naming a handler that is not installed', async () => {
    const manifest = write(
      'order-unknown/manifest.json',
      JSON.stringify({ handlers: [{ module: LABEL_STUDIO, after: ['extractNothing'] }] }),
    );
    const error = await failure([manifest]);
    expect(error.message).toContain(
      `Handler manifest ${manifest}: handler "labelStudio" runs after "extractNothing", which is not installed`,
    );
    const top = write('order-unknown/top.json', JSON.stringify({ handlers: [], after: { labelStudio: ['extractNothing'] } }));
    expect((await failure([BUILTIN_MANIFEST, top])).message).toContain(
      `Handler manifest ${top}: after.labelStudio: "extractNothing" is not installed`,
    );
    const nobody = write('order-unknown/nobody.json', JSON.stringify({ handlers: [], after: { labelStudoi: ['webhook'] } }));
    expect((await failure([BUILTIN_MANIFEST, nobody])).message).toContain('after.labelStudoi: no handler named "labelStudoi" is installed');
  });

  it('refuses handlers that wait for each other in a circle', async () => {
    write('order-circle/a.ts', handlerModule('circleA', 'z.object({})'));
    write('order-circle/b.ts', handlerModule('circleB', 'z.object({})'));
    const manifest = write(
      'order-circle/manifest.json',
      JSON.stringify({
        handlers: [
          { module: './a.ts', after: ['circleB'] },
          { module: './b.ts', after: ['circleA'] },
        ],
      }),
    );
    expect((await failure([manifest])).message).toContain(
      'handlers wait for each other in a circle through "after" (circleA → circleB → circleA)',
    );
  });

  it('names the field when "after" is not a list of names', async () => {
    const manifest = write('order-shape/manifest.json', JSON.stringify({ handlers: [{ module: LABEL_STUDIO, after: 'webhook' }] }));
    expect((await failure([manifest])).message).toContain('handlers.0.after: expected a list of handler names');
  });
});
