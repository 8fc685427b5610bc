import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';
import * as zod from 'zod';
import { ZOD_WITHOUT_LOCALES, apiBundling } from '../../infra/lambda-bundling.ts';

/**
 * The API bundles resolve `zod` to infra/zod-without-locales/ (bench id 7: zod's locales were 258 KiB
 * of every bundle). It must stay zod's API minus the two namespaces that carry the locales, whatever
 * zod version package-lock.json pins, and the bundles must really leave the locales out.
 */
describe('zod without its locales, for the API bundles', () => {
  it('exports every name zod exports, but `locales` and `core` (types only, in our code)', async () => {
    const lean = (await import(ZOD_WITHOUT_LOCALES)) as Record<string, unknown>;
    const expected = Object.keys(zod).filter((k) => k !== 'locales' && k !== 'core').sort();
    expect(Object.keys(lean).sort()).toEqual(expected);
    for (const k of expected) if (k !== 'z' && k !== 'default') expect(lean[k], k).toBe((zod as Record<string, unknown>)[k]);
  });

  it('gives the same answers and messages as zod itself', async () => {
    const { z } = (await import(ZOD_WITHOUT_LOCALES)) as typeof zod;
    const schema = z.object({ id: z.string().regex(/^src-/), n: z.number().int().min(0) }).strict();
    for (const input of [{ id: 'src-a', n: 1 }, { id: 'x', n: -1.5, extra: true }, null]) {
      expect(JSON.stringify(schema.safeParse(input))).toBe(JSON.stringify(zod.z.object({ id: zod.z.string().regex(/^src-/), n: zod.z.number().int().min(0) }).strict().safeParse(input)));
    }
  });

  it("an API entry built with the stack's aliases holds no locale but English", async () => {
    const aliases = Object.fromEntries((apiBundling().esbuildArgs!['--alias'] as string[]).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
    expect(aliases.zod).toBe(ZOD_WITHOUT_LOCALES);
    const built = await esbuild.build({ entryPoints: ['functions/api-submit.ts'], bundle: true, platform: 'node', format: 'esm', target: 'node22', minify: true, write: false, metafile: true, mainFields: ['module', 'main'], alias: aliases, logLevel: 'silent' });
    const inputs = Object.values(built.metafile.outputs)[0]!.inputs;
    const locales = Object.entries(inputs).filter(([path, i]) => /zod\/v4\/locales\//.test(path) && i.bytesInOutput > 0).map(([path]) => path.replace(/.*zod\/v4\/locales\//, ''));
    expect(locales).toEqual(['en.js']);
  });
});
