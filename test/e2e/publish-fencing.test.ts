// Fencing and cost (PUBLISHING.md "Consistency and failure"): a publisher that lost its lease writes
// nothing more and cannot replace the catalog; the crash window between catalog.json and the store's
// record of it; the publisher's own If-None-Match on release objects; and a publish with nothing to
// publish reads only the change index: no Scan, no read of the bucket, whatever the store's size.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectExistsError, type ChangeLog, type LeaseStore, type ObjectStore, type PutOptions, type RecordStore, type ReleaseStateStore } from '../../pipeline/ports.ts';
import { publishRelease, type PublishDeps } from '../../pipeline/publish-release.ts';
import { catalog, publishOk, source, submitOk, verifyRelease } from '../support/release.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
let counter = 0;
beforeAll(async () => {
  stack = await startTestStack();
  await submitOk(stack, stack.editorKey, [source('src-fence-0')]);
  expect((await publishOk(stack)).published).toBe(true);
});
afterAll(async () => {
  await stack?.close();
});

const change = () => submitOk(stack, stack.editorKey, [source(`src-fence-${++counter}`)]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A proxy that counts every method call on `target` by name, and lets `around` intercept any. */
function instrument<T extends object>(target: T, calls: Map<string, number>, around: Partial<Record<string, (...args: any[]) => unknown>> = {}): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        calls.set(prop, (calls.get(prop) ?? 0) + 1);
        const hook = around[prop];
        return hook ? hook(...args) : (value as (...a: unknown[]) => unknown).apply(obj, args);
      };
    },
  });
}

describe('a publisher whose lease expired mid-run', () => {
  it('stops writing at its own expiry time even when its renewals hang, and the publisher that took over commits', async () => {
    await change();
    const catalogBefore = (await catalog(stack)).bytes;
    // Renewals never answer (a partition, a paused process): only the holder's own clock can tell.
    const hanging: LeaseStore = Object.create(stack.ctx.leases, { renew: { value: () => new Promise<boolean>(() => undefined) } });
    const writes: Array<{ key: string; at: number }> = [];
    let started = 0;
    const slow = instrument<ObjectStore>(stack.ctx.objects, new Map(), {
      putFile: async (key: string, path: string, opts: PutOptions) => {
        // When the publisher decided to write (its lease check just passed); the write lands a bit later.
        writes.push({ key, at: Date.now() });
        // The first write is slow enough to outlast the lease, whatever the machine's speed: every later
        // write would come after the holder's own expiry.
        await sleep(writes.length === 1 ? Math.max(150, started + ttl + 300 - Date.now()) : 150);
        return stack.ctx.objects.putFile(key, path, opts);
      },
    });
    // Long enough for the build to reach its first write on a loaded machine (at 1.2 s it sometimes did not).
    const ttl = 4000;
    started = Date.now();
    const outcome = publishRelease({ ...stack.ctx, leases: hanging, objects: slow }, { leaseTtlMs: ttl }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    // The lease expires in the store after ttl: another publisher takes over (as soon as it can) and publishes.
    await sleep(ttl + 100);
    let other = await publishRelease(stack.ctx, {}).catch((e: unknown) => e as Error & { code?: string });
    for (let i = 0; i < 50 && other instanceof Error && other.code === 'publish_in_progress'; i++) {
      await sleep(100);
      other = await publishRelease(stack.ctx, {}).catch((e: unknown) => e as Error & { code?: string });
    }
    if (other instanceof Error) throw other;
    expect(other.published).toBe(true);
    const error = await outcome;
    expect(error?.name).toBe('LeaseLostError');
    // Nothing written at or after its expiry; the catalog is the other publisher's.
    expect(writes.length).toBeGreaterThan(0);
    for (const w of writes) expect(w.at - started, w.key).toBeLessThan(ttl);
    const after = (await catalog(stack)).value;
    expect(after.latest).toBe((other as { version: string }).version);
    expect(Buffer.compare((await catalog(stack)).bytes, catalogBefore)).not.toBe(0);
    await verifyRelease(stack, after.latest);
  });

  it('stops at its next write once a renewal finds the lease taken over, long before its own expiry', async () => {
    await change();
    const catalogBefore = (await catalog(stack)).bytes;
    const takenOver: LeaseStore = Object.create(stack.ctx.leases, { renew: { value: async () => false } });
    const writes: number[] = [];
    const slow = instrument<ObjectStore>(stack.ctx.objects, new Map(), {
      putFile: async (key: string, path: string, opts: PutOptions) => {
        await sleep(300);
        writes.push(Date.now());
        return stack.ctx.objects.putFile(key, path, opts);
      },
    });
    const ttl = 3000;
    const started = Date.now();
    const error = await publishRelease({ ...stack.ctx, leases: takenOver, objects: slow }, { leaseTtlMs: ttl }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/taken over/);
    // The first renewal comes at a third of the TTL; no write after the next one (its own expiry would allow ~2.7 s).
    expect(Math.max(...writes) - started).toBeLessThan(ttl / 3 + 1000);
    expect(Buffer.compare((await catalog(stack)).bytes, catalogBefore)).toBe(0);
    // Its change goes out with the next publish.
    expect((await publishOk(stack)).published).toBe(true);
  });

  it('cannot replace catalog.json once another publisher committed since it started (If-Match), even while its lease check passes', async () => {
    await change();
    let intruder: Buffer | undefined;
    const racing = instrument<ObjectStore>(stack.ctx.objects, new Map(), {
      put: async (key: string, body: Uint8Array, opts: PutOptions) => {
        if (key === 'catalog.json' && !intruder) {
          // Another publisher commits first (its catalog lists the same releases plus nothing new here).
          const current = JSON.parse(Buffer.from((await stack.ctx.objects.get('catalog.json'))!).toString());
          intruder = Buffer.from(JSON.stringify({ ...current, name: 'written by another publisher' }, null, 2) + '\n');
          await stack.ctx.objects.put('catalog.json', intruder, { contentType: 'application/json' });
        }
        return stack.ctx.objects.put(key, body, opts);
      },
    });
    await expect(publishRelease({ ...stack.ctx, objects: racing }, {})).rejects.toMatchObject({ status: 409, code: 'catalog_changed' });
    expect(Buffer.compare((await catalog(stack)).bytes, intruder!)).toBe(0);
    // Put the catalog back as the store recorded it, for the tests after this one.
    const restored = JSON.parse(intruder!.toString());
    await stack.ctx.objects.put('catalog.json', Buffer.from(JSON.stringify({ ...restored, name: 'rights-ledger-test' }, null, 2) + '\n'), { contentType: 'application/json' });
  });
});

describe('the crash window between catalog.json and the store', () => {
  it('a publisher that died after writing the catalog but before recording it: the next publish promotes that release and chains onto it', async () => {
    await change();
    const before = (await catalog(stack)).value;
    const dying: ReleaseStateStore = Object.create(stack.ctx.releases, {
      commit: { value: async () => Promise.reject(new Error('injected: died before recording the release')) },
    });
    await expect(publishRelease({ ...stack.ctx, releases: dying }, {})).rejects.toThrow(/died before recording/);
    const committed = (await catalog(stack)).value;
    expect(committed.latest).not.toBe(before.latest);
    const state = await stack.ctx.releases.getLatest();
    expect(state.latest?.version).toBe(before.latest);
    expect(state.pending?.version).toBe(committed.latest);

    // The next publish (with a new change) accepts the catalog's release as the last one and chains onto it.
    await change();
    const next = await publishOk(stack);
    expect(next.published).toBe(true);
    const rel = await verifyRelease(stack, next.version);
    expect(rel.manifest.previous_version).toBe(committed.latest);
    expect((await stack.ctx.releases.getLatest()).latest?.version).toBe(next.version);
    // What the dead publisher did not record, the promotion did: the record's first release.
    const read = await call(stack, 'GET', `/records/source/src-fence-${counter - 1}`, { key: stack.editorKey });
    expect(read.body.first_published).toBe(committed.latest);
  });
});

describe("the publisher's own If-None-Match on release objects", () => {
  it('a release object that appears under its key before its write (another writer) is never overwritten: the publish fails, the object stays', async () => {
    await change();
    let intruded: string | undefined;
    const intruding = instrument<ObjectStore>(stack.ctx.objects, new Map(), {
      putFile: async (key: string, path: string, opts: PutOptions) => {
        if (!intruded && key.startsWith('releases/') && key.endsWith('.parquet')) {
          intruded = key;
          await stack.ctx.objects.put(key, Buffer.from('written by someone else'), { contentType: 'text/plain' });
        }
        return stack.ctx.objects.putFile(key, path, opts);
      },
    });
    const catalogBefore = (await catalog(stack)).bytes;
    await expect(publishRelease({ ...stack.ctx, objects: intruding }, {})).rejects.toBeInstanceOf(ObjectExistsError);
    expect(Buffer.from((await stack.ctx.objects.get(intruded!))!).toString()).toBe('written by someone else');
    expect(Buffer.compare((await catalog(stack)).bytes, catalogBefore)).toBe(0);
  });
});

describe('a publish with nothing to publish', () => {
  async function noChangeCalls(): Promise<{ records: Map<string, number>; objects: Map<string, number>; changes: Map<string, number> }> {
    const calls = { records: new Map<string, number>(), objects: new Map<string, number>(), changes: new Map<string, number>() };
    const deps: PublishDeps = {
      ...stack.ctx,
      records: instrument<RecordStore>(stack.ctx.records, calls.records),
      objects: instrument<ObjectStore>(stack.ctx.objects, calls.objects),
      changes: instrument<ChangeLog>(stack.ctx.changes, calls.changes),
    };
    expect(await publishRelease(deps, {})).toEqual({ published: false, reason: 'no changes' });
    return calls;
  }

  it('reads only the change index: no Scan, no head, no bucket read; the same calls at 10 and at 210 records', async () => {
    await change();
    await publishOk(stack);
    const small = await noChangeCalls();
    expect([...small.objects.keys()]).toEqual([]);
    expect([...small.records.keys()]).toEqual([]);
    expect([...small.changes.keys()].sort()).toEqual(['advanceCut', 'listDeferred', 'read']);

    await submitOk(stack, stack.editorKey, Array.from({ length: 200 }, (_, i) => source(`src-bulk-${i}`)));
    await publishOk(stack);
    const large = await noChangeCalls();
    expect(large).toEqual(small);
  });

  it('moves the watermark on (one conditional write), so marks never age out under a ledger that rarely changes', async () => {
    const before = (await stack.ctx.releases.getLatest()).latest!;
    expect(await publishRelease(stack.ctx, {})).toEqual({ published: false, reason: 'no changes' });
    const after = (await stack.ctx.releases.getLatest()).latest!;
    expect(after.version).toBe(before.version);
    expect(after.cut!).toBeGreaterThan(before.cut!);
  });

  it('a release state written under other redaction rules is not built upon: the next publish rebuilds every row from the store', async () => {
    const latest = (await stack.ctx.releases.getLatest()).latest!;
    expect(await stack.ctx.releases.commit({ ...latest, rules: 'older-rules' }, latest.version)).toBe(true);
    await change();
    const calls = new Map<string, number>();
    const result = await publishRelease({ ...stack.ctx, records: instrument<RecordStore>(stack.ctx.records, calls) }, {});
    expect(result.published).toBe(true);
    expect(calls.get('scanHeads')).toBe(1);
    // And the rebuilt release is a base for incremental publishes again.
    await change();
    const calls2 = new Map<string, number>();
    await publishRelease({ ...stack.ctx, records: instrument<RecordStore>(stack.ctx.records, calls2) }, {});
    expect(calls2.get('scanHeads')).toBeUndefined();
  });

  it('a pending submission and a rejection change nothing published: they leave no mark, and the next publish reads only the index', async () => {
    const contributor = (await call(stack, 'POST', '/keys', { key: stack.editorKey, json: { role: 'contributor', name: 'pending' } })).body;
    await submitOk(stack, contributor.key, [source('src-fence-pending'), { ...source('src-fence-0'), title: 'a pending edit' }]);
    expect((await call(stack, 'POST', '/records/source/src-fence-pending/review', { key: stack.editorKey, json: { decision: 'reject' } })).status).toBe(200);
    const calls = await noChangeCalls();
    expect([...calls.records.keys()]).toEqual([]);
    expect([...calls.objects.keys()]).toEqual([]);
  });
});

describe('the fence on the change index', () => {
  it('a writer whose clock is behind the last cut still lands in the next release: its mark goes above the fence, not below the watermark', async () => {
    await publishRelease(stack.ctx, {});
    const { DynamoDbRecordStore } = await import('../../storage/dynamodb-record-store.ts');
    const { documentClient } = await import('../../storage/dynamodb-table.ts');
    // Ten minutes slow: without the fence its mark would sort below the committed watermark and be skipped forever.
    const lagging = new DynamoDbRecordStore(documentClient(stack.ctx.dynamodb), stack.ctx.settings.tableName, () => Date.now() - 600_000);
    const { ingestRecords } = await import('../../pipeline/ingest-records.ts');
    const out = await ingestRecords([source('src-fence-slow-clock')], { keyId: 'key_slow', role: 'editor' }, { ...stack.ctx, records: lagging });
    expect(out.results[0]).toMatchObject({ status: 'created', review_status: 'approved' });
    const next = await publishOk(stack);
    expect(next).toMatchObject({ published: true, changes: { add: 1, modify: 0, delete: 0 } });
  });
});
