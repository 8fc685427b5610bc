import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailingObjectStore } from '../support/release.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
  const body = readFileSync('examples/records.ndjson');
  const r = await call(stack, 'POST', '/records', { key: stack.editorKey, body, contentType: 'application/x-ndjson' });
  expect(r.body.rejected).toBe(0);
  expect((await call(stack, 'POST', '/publish', { key: stack.editorKey })).body.published).toBe(true);
});
afterAll(async () => {
  await stack?.close();
});

const source = (id: string) => ({ id, kind: 'source', title: `T ${id}`, publisher: 'P', publisher_type: 'ngo' });

describe('the hash chain is built only on the manifest that was published', () => {
  it('refuses to publish on top of a rewritten latest manifest, and names the release', async () => {
    const catalog = JSON.parse(await (await fetch(`${stack.publicBaseUrl}/catalog.json`)).text());
    const key = catalog.latest_manifest as string;
    const original = (await stack.ctx.objects.get(key))!;
    const forged = JSON.parse(Buffer.from(original).toString('utf8'));
    forged.title = 'rewritten';
    await stack.ctx.objects.put(key, Buffer.from(JSON.stringify(forged)), { contentType: 'application/json' });
    await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [source('src-integrity-1')] } });

    const refused = await call(stack, 'POST', '/publish', { key: stack.editorKey });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('release_integrity');
    expect(refused.body.detail).toContain(catalog.latest);

    // Restored, the next publish chains onto the real manifest.
    await stack.ctx.objects.put(key, original, { contentType: 'application/json' });
    const ok = await call(stack, 'POST', '/publish', { key: stack.editorKey });
    expect(ok.body.published).toBe(true);
    const manifest = JSON.parse(await (await fetch(ok.body.manifest)).text());
    const { createHash } = await import('node:crypto');
    expect(manifest.previous_manifest_sha256).toBe(createHash('sha256').update(original).digest('hex'));
  });
});

describe('the previous release a publish builds on', () => {
  it('refuses to build on a Parquet part that no longer matches its manifest (rows would be carried unchecked)', async () => {
    const catalog = JSON.parse(await (await fetch(`${stack.publicBaseUrl}/catalog.json`)).text());
    const key = `releases/${catalog.latest}/tables/persons/part-00000.parquet`;
    const original = (await stack.ctx.objects.get(key))!;
    await stack.ctx.objects.put(key, Buffer.concat([Buffer.from(original), Buffer.from('tampered')]), { contentType: 'application/vnd.apache.parquet' });
    await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [source('src-integrity-part')] } });
    try {
      const refused = await call(stack, 'POST', '/publish', { key: stack.editorKey });
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('release_integrity');
      expect(refused.body.detail).toContain('part-00000.parquet');
    } finally {
      await stack.ctx.objects.put(key, original, { contentType: 'application/vnd.apache.parquet' });
    }
    expect((await call(stack, 'POST', '/publish', { key: stack.editorKey })).body.published).toBe(true);
  });
});

describe('first_published, the server field', () => {
  it('is null before any release and then the release a record first appeared in, kept across updates', async () => {
    const before = await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [source('src-first-pub')] } });
    expect(before.body.results[0].status).toBe('created');
    expect((await call(stack, 'GET', '/records/source/src-first-pub', { key: stack.editorKey })).body.first_published).toBeNull();

    const release = await call(stack, 'POST', '/publish', { key: stack.editorKey });
    expect(release.body.published).toBe(true);
    expect((await call(stack, 'GET', '/records/source/src-first-pub', { key: stack.editorKey })).body.first_published).toBe(release.body.version);

    // An update keeps it; the next release carries the same value in its tables.
    await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [{ ...source('src-first-pub'), title: 'changed' }] } });
    expect((await call(stack, 'GET', '/records/source/src-first-pub', { key: stack.editorKey })).body.first_published).toBe(release.body.version);
    const next = await call(stack, 'POST', '/publish', { key: stack.editorKey });
    expect(next.body.published).toBe(true);
    const read = await call(stack, 'GET', '/records/source/src-first-pub', { key: stack.editorKey });
    expect(read.body).toMatchObject({ revision: 2, title: 'changed', first_published: release.body.version });
  });
});

/** Every key in the bucket, and no object of it holds `canary` (gzip decompressed). */
async function bucketLacks(canary: string): Promise<string[]> {
  const { gunzipSync } = await import('node:zlib');
  const keys: string[] = [];
  for await (const o of stack.ctx.objects.list('')) keys.push(o.key);
  for (const k of keys) {
    const body = Buffer.from((await stack.ctx.objects.get(k))!);
    const text = k.endsWith('.gz') ? gunzipSync(body).toString() : body.toString('latin1');
    expect(text, k).not.toContain(canary);
  }
  return keys;
}

describe('a publisher that died at its commit point', () => {
  it('left latest/ and the catalog as they were; its orphan folder goes once older than a lease; a retraction before the next publish keeps the record out', async () => {
    const { publishRelease } = await import('../../pipeline/publish-release.ts');
    const catalogBefore = Buffer.from((await stack.ctx.objects.get('catalog.json'))!);
    const latestBefore = Buffer.from((await stack.ctx.objects.get('latest/manifest.json'))!);
    // The publisher dies at its commit point: it cannot remove what it uploaded.
    const failingCatalog = new FailingObjectStore(stack.ctx.objects, (key) => key === 'catalog.json', { dies: true });
    const person = { id: 'per-orphaned', kind: 'person', name: 'CANARY-ORPHAN-NAME', name_disclosure: 'public_record', fate: 'detained', source_ids: ['src-integrity-1'] };
    expect((await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [person] } })).body.results[0].status).toBe('created');
    await expect(publishRelease({ ...stack.ctx, objects: failingCatalog }, {})).rejects.toThrow(/injected failure/);
    expect(Buffer.compare(Buffer.from((await stack.ctx.objects.get('catalog.json'))!), catalogBefore)).toBe(0);
    expect(Buffer.compare(Buffer.from((await stack.ctx.objects.get('latest/manifest.json'))!), latestBefore)).toBe(0);
    const orphan = failingCatalog.written.find((k) => k.startsWith('releases/'))!.split('/')[1]!;

    expect((await call(stack, 'POST', '/records/person/per-orphaned/retract', { key: stack.editorKey, json: { reason: 'endangers the person' } })).status).toBe(200);
    // A young orphan may be another publisher's release in progress: it stays.
    const young = await publishRelease(stack.ctx, {});
    expect(young).toMatchObject({ published: false, reason: 'no changes' });
    expect((await stack.ctx.objects.get(`releases/${orphan}/manifest.json`)) !== undefined).toBe(true);
    // Older than the lease's lifetime, it goes (this publish is given a 300 ms lease).
    await new Promise((r) => setTimeout(r, 400));
    await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [source('src-after-orphan')] } });
    expect(await publishRelease(stack.ctx, { leaseTtlMs: 300 })).toMatchObject({ published: true });

    const catalog = JSON.parse(Buffer.from((await stack.ctx.objects.get('catalog.json'))!).toString());
    expect(Buffer.compare(Buffer.from((await stack.ctx.objects.get('latest/manifest.json'))!), Buffer.from((await stack.ctx.objects.get(catalog.latest_manifest))!))).toBe(0);
    const listed = new Set(catalog.versions.map((v: { version: string }) => v.version));
    const keys = await bucketLacks('CANARY-ORPHAN-NAME');
    expect(keys.filter((k) => k.startsWith('releases/') && !listed.has(k.split('/')[1]))).toEqual([]);
  });
});

describe('a publish that died while refreshing latest/ (after its commit)', () => {
  it('is repaired by the next publish, even one with nothing to publish: latest/ is the catalog release again', async () => {
    const { publishRelease } = await import('../../pipeline/publish-release.ts');
    await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [source('src-latest-repair')] } });
    // The third copy into latest/ fails: latest/ now mixes two releases.
    let copies = 0;
    const failing = new FailingObjectStore(stack.ctx.objects, (key) => key.startsWith('latest/') && ++copies >= 3);
    await expect(publishRelease({ ...stack.ctx, objects: failing }, {})).rejects.toThrow(/injected failure/);
    const catalog = JSON.parse(Buffer.from((await stack.ctx.objects.get('catalog.json'))!).toString());
    const committed = Buffer.from((await stack.ctx.objects.get(catalog.latest_manifest))!);
    expect(Buffer.compare(Buffer.from((await stack.ctx.objects.get('latest/manifest.json'))!), committed)).not.toBe(0);

    expect(await publishRelease(stack.ctx, {})).toMatchObject({ published: false, reason: 'no changes' });
    expect(Buffer.compare(Buffer.from((await stack.ctx.objects.get('latest/manifest.json'))!), committed)).toBe(0);
    const sums = Buffer.from((await stack.ctx.objects.get('latest/SHA256SUMS'))!).toString();
    for (const [, hash, path] of sums.matchAll(/^([0-9a-f]{64}) {2}(.+)$/gm)) {
      const { createHash } = await import('node:crypto');
      expect(createHash('sha256').update(Buffer.from((await stack.ctx.objects.get(`latest/${path}`))!)).digest('hex'), path).toBe(hash);
    }
  });
});
