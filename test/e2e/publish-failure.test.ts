// A publish that fails part-way (PUBLISHING.md "Consistency and failure"): the public bucket's
// catalog.json, latest/ and every earlier release stay byte-identical, and the next publish starts clean
// and writes a complete release under a fresh id. The failure is injected by an ObjectStore that wraps
// the real one (local S3 server) and throws after N successful puts; everything else is real.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishRelease, type PublishDeps } from '../../pipeline/publish-release.ts';
import { FailingObjectStore, catalog, fetchObject, listKeys, ndjsonGz, only, publishOk, sha256, snapshot, source, submitOk, verifyRelease, type Json, type VerifiedRelease } from '../support/release.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
/** How many objects one release folder holds (manifest, SHA256SUMS, Parquet, NDJSON, schemas). */
let releaseObjects: number;
let counter = 0;

beforeAll(async () => {
  stack = await startTestStack();
  await submitOk(stack, stack.editorKey, [source('src-first-1'), source('src-first-2')]);
  const first = await publishOk(stack);
  expect(first.published).toBe(true);
  releaseObjects = (await verifyRelease(stack, first.version)).files.size;
  expect(releaseObjects).toBe(18);
});
afterAll(async () => {
  await stack?.close();
});

/** A change for the next publish to carry. */
async function pendingChange(): Promise<string> {
  const id = `src-change-${++counter}`;
  await submitOk(stack, stack.editorKey, [source(id)]);
  return id;
}

/** Publishes through a store that fails after `okPuts` puts (and, with `dies`, a process that is gone after it); returns the wrapper and what it threw. */
async function failingPublish(okPuts: number, clock: PublishDeps['clock'], dies = false): Promise<{ store: FailingObjectStore; error: unknown }> {
  const store = new FailingObjectStore(stack.ctx.objects, (_key, put) => put >= okPuts, { dies });
  const error = await publishRelease({ ...stack.ctx, objects: store, clock }).then(
    (r) => new Error(`the publish did not fail: ${JSON.stringify(r)}`),
    (e: unknown) => e,
  );
  expect(String(error)).toMatch(/injected failure/);
  expect(store.written).toHaveLength(okPuts);
  return { store, error };
}

/** Release ids the failed attempt wrote objects under. */
const foldersOf = (store: FailingObjectStore) => [...new Set([...store.written, store.failedKey ?? ''].filter((k) => k.startsWith('releases/')).map((k) => k.split('/')[1]!))];

/** The next publish, on the real store and the same (frozen) clock, succeeds with a complete release. */
async function repairPublish(clock: PublishDeps['clock'], leftBehind: string[], addedId: string): Promise<VerifiedRelease> {
  const before = (await catalog(stack)).value;
  const result = await publishRelease({ ...stack.ctx, clock });
  expect(result.published).toBe(true);
  const version = (result as { version: string }).version;
  expect(leftBehind).not.toContain(version);
  const rel = await verifyRelease(stack, version);
  expect(rel.manifest.previous_version).toBe(before.latest);
  expect(rel.manifest.previous_manifest_sha256).toBe(sha256(await fetchObject(stack.publicBaseUrl, before.latest_manifest)));
  const changes = ndjsonGz(rel.files.get('json/changes.ndjson.gz')!);
  expect(changes.map((c: Json) => [c.op, c.id])).toEqual([['add', addedId]]);
  const after = (await catalog(stack)).value;
  expect(after.latest).toBe(version);
  expect(after.versions.map((v: Json) => v.version)).toEqual([version, ...before.versions.map((v: Json) => v.version)]);
  // latest/ is exactly the new release.
  expect(await listKeys(stack.ctx.objects, 'latest/')).toEqual([...rel.files.keys()].map((k) => `latest/${k}`).sort());
  for (const [path, bytes] of rel.files) expect(Buffer.compare(await fetchObject(stack.publicBaseUrl, `latest/${path}`), bytes), `latest/${path}`).toBe(0);
  return rel;
}

describe('a publish that fails while writing the release folder', () => {
  // N successful puts before the failure: the first object, half the folder, all but the last object.
  const cases = [
    ['after the first object', () => 1],
    ['half-way through the folder', () => Math.floor(releaseObjects / 2)],
    ["on the release's last object", () => releaseObjects - 1],
  ] as const;

  for (const [label, n] of cases) {
    it(`${label}: the publisher removes what it uploaded, so the bucket is byte-identical; the next publish is complete`, async () => {
      const okPuts = n();
      const added = await pendingChange();
      const before = await snapshot(stack.ctx.objects);
      const cat = (await catalog(stack)).value;
      const frozen = new Date();
      const clock = { now: () => frozen };
      const { store } = await failingPublish(okPuts, clock);
      const left = foldersOf(store);
      expect(left).toHaveLength(1);
      expect(cat.versions.map((v: Json) => v.version)).not.toContain(left[0]);
      expect(store.failedKey).toMatch(new RegExp(`^releases/${left[0]}/`));
      // Nothing changed, byte for byte, not even the failed attempt's own folder: a public folder of a
      // release that was never published could hold a record retracted since.
      expect(await snapshot(stack.ctx.objects)).toEqual(before);
      await verifyRelease(stack, cat.latest);
      await repairPublish(clock, [], added);
    });

    it(`${label}, and the process dies there: catalog.json, latest/ and earlier releases are byte-identical; the next publish is complete under a new id`, async () => {
      const okPuts = n();
      const added = await pendingChange();
      const before = await snapshot(stack.ctx.objects);
      const cat = (await catalog(stack)).value;
      // One frozen clock for the failed attempt and the retry: both start from the same candidate id,
      // so the retry must notice the leftovers and move on.
      const frozen = new Date();
      const clock = { now: () => frozen };
      const { store } = await failingPublish(okPuts, clock, true);
      const left = foldersOf(store);
      const after = await snapshot(stack.ctx.objects);
      // Nothing outside the dead attempt's own folder changed or appeared, byte for byte.
      expect(only(after, (k) => !k.startsWith(`releases/${left[0]}/`))).toEqual(before);
      expect([...after.keys()].filter((k) => k.startsWith(`releases/${left[0]}/`))).toHaveLength(okPuts);
      await verifyRelease(stack, cat.latest);
      await repairPublish(clock, left, added);
    });
  }
});

describe('a publish that fails at its commit point', () => {
  it('on catalog.json itself (the conditional write): the bucket is byte-identical (its folder removed); the next publish is complete', async () => {
    const added = await pendingChange();
    const before = await snapshot(stack.ctx.objects);
    const cat = (await catalog(stack)).value;
    const frozen = new Date();
    const clock = { now: () => frozen };
    const { store } = await failingPublish(releaseObjects, clock);
    expect(store.failedKey).toBe('catalog.json');
    expect(await snapshot(stack.ctx.objects)).toEqual(before);
    await verifyRelease(stack, cat.latest);
    await repairPublish(clock, [], added);
  });
});

describe('a publish that fails after its commit (index.html, athena/, the latest/ copy)', () => {
  // S3 has no multi-object atomicity: a failure during the latest/ copy leaves latest/ partly refreshed.
  // What must hold: the release the catalog now names is complete, earlier releases are untouched, and
  // the next publish, even one with nothing to publish, makes latest/ that release exactly.
  const cases = [
    ['on index.html', () => releaseObjects + 1],
    ['on athena/tables.sql', () => releaseObjects + 2],
    ['during the latest/ copy', () => releaseObjects + 3 + 5],
    ["on latest/'s last object", () => releaseObjects + 3 + releaseObjects - 1],
  ] as const;

  for (const [label, n] of cases) {
    it(`${label}: the committed release is complete and earlier ones unchanged; the next publish repairs latest/`, async () => {
      const okPuts = n();
      const added = await pendingChange();
      const before = await snapshot(stack.ctx.objects);
      const cat = (await catalog(stack)).value;
      const { store } = await failingPublish(okPuts, systemClockFrom());
      const left = foldersOf(store);
      expect(left).toHaveLength(1);
      expect(store.written.filter((k) => k.startsWith('releases/'))).toHaveLength(releaseObjects);

      const after = await snapshot(stack.ctx.objects);
      const committed = (await catalog(stack)).value;
      expect(committed.latest).toBe(left[0]);
      const rel = await verifyRelease(stack, committed.latest);
      expect(ndjsonGz(rel.files.get('json/changes.ndjson.gz')!).map((c: Json) => [c.op, c.id])).toEqual([['add', added]]);
      for (const v of cat.versions) expect(only(after, (k) => k.startsWith(`releases/${v.version}/`))).toEqual(only(before, (k) => k.startsWith(`releases/${v.version}/`)));
      const touched = [...after.keys()].filter((k) => after.get(k) !== before.get(k));
      for (const k of touched) expect(k.startsWith(`releases/${left[0]}/`) || k.startsWith('latest/') || ['catalog.json', 'athena/tables.sql', 'index.html'].includes(k), k).toBe(true);

      expect(await publishRelease(stack.ctx)).toMatchObject({ published: false, reason: 'no changes' });
      expect(await listKeys(stack.ctx.objects, 'latest/')).toEqual([...rel.files.keys()].map((k) => `latest/${k}`).sort());
      for (const [path, bytes] of rel.files) expect(Buffer.compare(await fetchObject(stack.publicBaseUrl, `latest/${path}`), bytes), `latest/${path}`).toBe(0);
    });
  }
});

/** The system clock (the releases of these cases must follow the earlier ones in time). */
const systemClockFrom = (): PublishDeps['clock'] => ({ now: () => new Date() });

describe('the landing page when an older release cannot be read', () => {
  it("a failed read of an earlier release's manifest costs the page that release's file table, not the page, latest/ or the publish", async () => {
    const added = await pendingChange();
    const previous = (await catalog(stack)).value.latest as string;
    const broken = new FailingObjectStore(stack.ctx.objects, () => false);
    broken.get = async (key: string) => {
      // After the commit (the publish reads the previous manifest at its start too, and must).
      if (key === `releases/${previous}/manifest.json` && broken.written.includes('catalog.json')) throw new Error('injected failure: a read of an older release');
      return stack.ctx.objects.get(key);
    };
    const result = await publishRelease({ ...stack.ctx, objects: broken });
    expect(result.published).toBe(true);
    const version = (result as { version: string }).version;
    const rel = await verifyRelease(stack, version);
    expect(ndjsonGz(rel.files.get('json/changes.ndjson.gz')!).map((c: Json) => c.id)).toEqual([added]);
    expect(await listKeys(stack.ctx.objects, 'latest/')).toEqual([...rel.files.keys()].map((k) => `latest/${k}`).sort());
    const page = (await fetchObject(stack.publicBaseUrl, 'index.html')).toString('utf8');
    // The new release's files are listed with their hashes; the earlier one is linked, without a table.
    expect(page).toContain(`releases/${version}/tables/sources/part-00000.parquet`);
    expect(page).toContain(`releases/${previous}/SHA256SUMS`);
    expect(page).not.toContain(`releases/${previous}/tables/sources/part-00000.parquet`);
  });
});
