// Releases nobody can erase (issue 9, item 5): with Object Lock on, the publisher locks every object of a
// release once it is committed, and nothing else. Everything is real: the handlers over HTTP, DynamoDB
// Local and the local S3 server, which keeps retention and refuses to delete a locked object as S3 does.
import { DeleteObjectCommand, GetObjectRetentionCommand, HeadObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../pipeline/ports.ts';
import { publishRelease } from '../../pipeline/publish-release.ts';
import { FailingObjectStore, catalog, listKeys, publishOk, source, submitOk } from '../support/release.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';

const YEARS = 10;
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ objectLock: { mode: 'GOVERNANCE', years: YEARS } });
});
afterAll(async () => {
  await stack?.close();
});

/** The retention S3 reports for a key, or the error code it answers instead. */
async function retentionOf(s: TestStack, key: string): Promise<{ mode?: string; until?: string } | string> {
  try {
    const out = await s.ctx.s3.send(new GetObjectRetentionCommand({ Bucket: s.ctx.info.bucketName, Key: key }));
    return { mode: out.Retention?.Mode, until: out.Retention?.RetainUntilDate?.toISOString() };
  } catch (err) {
    if (err instanceof S3ServiceException) return err.name;
    throw err;
  }
}

/** The release's time (its id, YYYYMMDDTHHMMSSZ) plus `years`, computed here independently of the publisher. */
function expectedUntil(version: string, years: number): string {
  const iso = `${version.slice(0, 4)}-${version.slice(4, 6)}-${version.slice(6, 8)}T${version.slice(9, 11)}:${version.slice(11, 13)}:${version.slice(13, 15)}.000Z`;
  return iso.replace(/^\d{4}/, String(Number(version.slice(0, 4)) + years));
}

async function publishChange(id: string): Promise<string> {
  await submitOk(stack, stack.editorKey, [source(id)]);
  const result = await publishOk(stack);
  expect(result.published).toBe(true);
  return result.version as string;
}

describe('with Object Lock on (GOVERNANCE, 10 years)', () => {
  let version: string;
  beforeAll(async () => {
    version = await publishChange('src-lock-1');
  });

  it('every object of the committed release carries the retention, until the release time plus the years', async () => {
    const keys = await listKeys(stack.ctx.objects, `releases/${version}/`);
    expect(keys.length).toBeGreaterThanOrEqual(18);
    const found = await Promise.all(keys.map(async (k) => [k, await retentionOf(stack, k)] as const));
    expect(found.filter(([, r]) => typeof r === 'string' || r.mode !== 'GOVERNANCE' || r.until !== expectedUntil(version, YEARS))).toEqual([]);
  });

  it('which is now plus the years, give or take a day', async () => {
    const r = (await retentionOf(stack, `releases/${version}/manifest.json`)) as { until: string };
    const inYears = new Date();
    inYears.setUTCFullYear(inYears.getUTCFullYear() + YEARS);
    expect(Math.abs(Date.parse(r.until) - inYears.getTime())).toBeLessThan(24 * 3600_000);
  });

  it('HEAD of a release object tells its lock', async () => {
    const head = await stack.ctx.s3.send(new HeadObjectCommand({ Bucket: stack.ctx.info.bucketName, Key: `releases/${version}/SHA256SUMS` }));
    expect([head.ObjectLockMode, head.ObjectLockRetainUntilDate?.toISOString()]).toEqual(['GOVERNANCE', expectedUntil(version, YEARS)]);
  });

  it('latest/, catalog.json, index.html and athena/ carry none', async () => {
    const mutable = [...(await listKeys(stack.ctx.objects, 'latest/')), 'catalog.json', 'index.html', 'athena/tables.sql'];
    expect(mutable.length).toBeGreaterThan(4);
    const found = await Promise.all(mutable.map(async (k) => [k, await retentionOf(stack, k)] as const));
    expect(found.filter(([, r]) => r !== 'NoSuchObjectLockConfiguration')).toEqual([]);
  });

  it("the publisher's client cannot delete a release object: AccessDenied, and the object is still there", async () => {
    const key = `releases/${version}/manifest.json`;
    const before = Buffer.from((await stack.ctx.objects.get(key))!);
    const refused = await stack.ctx.s3.send(new DeleteObjectCommand({ Bucket: stack.ctx.info.bucketName, Key: key })).then(
      () => 'deleted',
      (err: unknown) => (err instanceof S3ServiceException ? `${err.$metadata.httpStatusCode} ${err.name}` : String(err)),
    );
    expect(refused).toBe('403 AccessDenied');
    // …nor through the port the publisher deletes with.
    await expect(stack.ctx.objects.delete(`releases/${version}/SHA256SUMS`)).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(Buffer.compare(Buffer.from((await stack.ctx.objects.get(key))!), before)).toBe(0);
  });

  it('a publish that dies between the commit and the lock: the next publish, even one with nothing to publish, locks that release', async () => {
    await submitOk(stack, stack.editorKey, [source('src-lock-crash')]);
    // The process dies at its first PutObjectRetention: the catalog names the release, none of it is locked.
    const crashing: ObjectStore = Object.assign(Object.create(stack.ctx.objects) as ObjectStore, {
      retain: () => Promise.reject(new Error('injected failure: the publisher died before locking')),
    });
    await expect(publishRelease({ ...stack.ctx, objects: crashing })).rejects.toThrow(/injected failure/);
    const committed = (await catalog(stack)).value.latest as string;
    expect(committed).not.toBe(version);
    const keys = await listKeys(stack.ctx.objects, `releases/${committed}/`);
    expect(new Set(await Promise.all(keys.map((k) => retentionOf(stack, k))))).toEqual(new Set(['NoSuchObjectLockConfiguration']));

    expect(await publishRelease(stack.ctx)).toMatchObject({ published: false, reason: 'no changes' });
    const found = await Promise.all(keys.map(async (k) => [k, await retentionOf(stack, k)] as const));
    expect(found.filter(([, r]) => typeof r === 'string' || r.mode !== 'GOVERNANCE' || r.until !== expectedUntil(committed, YEARS))).toEqual([]);
  });

  it('the folder of a release that never committed is not locked, and the orphan clean-up still removes it', async () => {
    await submitOk(stack, stack.editorKey, [source('src-lock-orphan')]);
    // The publisher dies at its commit point: it cannot remove what it uploaded.
    const dying = new FailingObjectStore(stack.ctx.objects, (key) => key === 'catalog.json', { dies: true });
    await expect(publishRelease({ ...stack.ctx, objects: dying })).rejects.toThrow(/injected failure/);
    const orphan = dying.written.find((k) => k.startsWith('releases/'))!.split('/')[1]!;
    const orphanKeys = await listKeys(stack.ctx.objects, `releases/${orphan}/`);
    expect(orphanKeys.length).toBeGreaterThan(0);
    expect(new Set(await Promise.all(orphanKeys.map((k) => retentionOf(stack, k))))).toEqual(new Set(['NoSuchObjectLockConfiguration']));

    // Older than the lease's lifetime, it goes (this publish is given a 3 s lease: a shorter one can
    // expire on a loaded machine while DuckDB holds the event loop).
    await new Promise((r) => setTimeout(r, 3_100));
    await submitOk(stack, stack.editorKey, [source('src-lock-after-orphan')]);
    const next = await publishRelease(stack.ctx, { leaseTtlMs: 3_000 });
    expect(next.published).toBe(true);
    expect(await listKeys(stack.ctx.objects, `releases/${orphan}/`)).toEqual([]);
    // …and the release that did commit is locked.
    expect(await retentionOf(stack, `releases/${(next as { version: string }).version}/manifest.json`)).toMatchObject({ mode: 'GOVERNANCE' });
  });
});

describe('with Object Lock off (the default)', () => {
  it('nothing of a release is locked, and its objects can still be deleted', async () => {
    const plain = await startTestStack();
    try {
      await submitOk(plain, plain.editorKey, [source('src-unlocked')]);
      const { version } = await publishOk(plain);
      expect(await retentionOf(plain, `releases/${version}/manifest.json`)).toBe('NoSuchObjectLockConfiguration');
      await plain.ctx.objects.delete(`releases/${version}/SHA256SUMS`);
      expect(await plain.ctx.objects.get(`releases/${version}/SHA256SUMS`)).toBeUndefined();
    } finally {
      await plain.close();
    }
  });
});
