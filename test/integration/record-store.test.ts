// The DynamoDB adapters (records, keys, leases) directly against DynamoDB Local, in a table of their own.
import { randomBytes } from 'node:crypto';
import { QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { dynamodbClientConfig } from '../../local/services.ts';
import type { ApiKey, AuditEntry, RecordHead, RecordStore, RevisionEntry, StoredContent } from '../../pipeline/ports.ts';
import { createAdapters, type Adapters } from '../../storage/adapters.ts';
import { documentClient, ensureTable, keys } from '../../storage/dynamodb-table.ts';

const tableName = `record-store-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
let a: Adapters;

beforeAll(async () => {
  a = createAdapters({ tableName, bucketName: 'unused', dynamodb: dynamodbClientConfig(inject('dynamodbEndpoint')) });
  await ensureTable(a.dynamodb, tableName);
});
afterAll(() => {
  a?.dynamodb.destroy();
  a?.s3.destroy();
});

/** The store's writes without a change mark (a pending submission, a rejection): what most tests here need. */
const unmarked = (records: RecordStore) => ({
  writeRevision: (h: RecordHead, r: RevisionEntry) => records.writeRevision(h, r, { publishChanged: false }),
  updateHead: (h: RecordHead, x: AuditEntry) => records.updateHead(h, x, { publishChanged: false }),
});
const uid = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}`;
const T0 = '2026-01-10T00:00:00.000Z';
const title = (c: StoredContent) => (c as { title?: string }).title;

function content(id: string, title = 'A report', extra: Record<string, unknown> = {}): StoredContent {
  return { id, kind: 'source', title, publisher: 'IHR', publisher_type: 'ngo', medium: 'article', reliability: 'unknown', ...extra } as StoredContent;
}

function head(id: string, revision: number, version: number, c = content(id), extra: Partial<RecordHead> = {}): RecordHead {
  return {
    version,
    id,
    kind: 'source',
    revision,
    review_status: 'approved',
    content: c,
    content_sha256: `sha-${revision}`,
    submitted_by: 'key_a',
    created_at: T0,
    updated_at: T0,
    submitters: ['key_a'],
    approved_revision: revision,
    approved: c,
    approved_updated_at: T0,
    retracted: false,
    ...extra,
  };
}

function rev(id: string, revision: number, c = content(id)): RevisionEntry {
  return { id, kind: 'source', revision, content: c, content_sha256: `sha-${revision}`, submitted_by: 'key_a', submitted_at: T0, review_status: 'approved', changed_fields: revision === 1 ? [] : ['/title'] };
}

/** Every item stored under a record's partition (head, revisions, audit), raw. */
async function partition(id: string): Promise<Array<Record<string, unknown>>> {
  const out = await documentClient(a.dynamodb).send(
    new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.head(id).pk }, ConsistentRead: true }),
  );
  return out.Items ?? [];
}

/** Runs `fn` over `items`, `n` at a time. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x);
  }));
}

describe('DynamoDbRecordStore', () => {
  it('writeRevision creates the head and the revision together, and getHead reads back the same head', async () => {
    const id = uid('src');
    const h = head(id, 1, 1, content(id, 'Ünïcödé “quotes” 😀', { tags: ['a', 'b'], restricted: { notes: '' } }));
    expect(await unmarked(a.records).writeRevision(h, rev(id, 1, h.content))).toBe(true);
    expect(await a.records.getHead(id)).toEqual(h);
    const revs = await a.records.listRevisions(id);
    expect(revs).toEqual([rev(id, 1, h.content)]);
    // Beside the head and its revision: the `by` entry of its one submitter.
    expect((await partition(id)).map((i) => i.sk)).toEqual(['BY#key_a', 'HEAD', 'REV#0000000001']);
    expect(await a.records.getHead(uid('missing'))).toBeUndefined();
  });

  it('a writeRevision with a stale version returns false and leaves head and revisions untouched (no orphan revision)', async () => {
    const id = uid('src');
    expect(await unmarked(a.records).writeRevision(head(id, 1, 1), rev(id, 1))).toBe(true);
    const before = await partition(id);

    // Another writer also thinks it creates the record (version 1 again).
    expect(await unmarked(a.records).writeRevision(head(id, 2, 1, content(id, 'racer')), rev(id, 2, content(id, 'racer')))).toBe(false);
    // A writer that read long ago / in the future: versions 3 and 5 against stored 1.
    expect(await unmarked(a.records).writeRevision(head(id, 2, 3, content(id, 'stale')), rev(id, 2, content(id, 'stale')))).toBe(false);
    expect(await unmarked(a.records).writeRevision(head(id, 7, 5, content(id, 'far')), rev(id, 7, content(id, 'far')))).toBe(false);
    expect(await partition(id)).toEqual(before);
    expect(await a.records.listRevisions(id)).toHaveLength(1);
    expect(title((await a.records.getHead(id))!.content)).toBe('A report');

    // The right version goes through.
    expect(await unmarked(a.records).writeRevision(head(id, 2, 2, content(id, 'second')), rev(id, 2, content(id, 'second')))).toBe(true);
    expect((await a.records.listRevisions(id)).map((r) => r.revision)).toEqual([1, 2]);
  });

  it('writeRevision refuses to overwrite an existing revision item even when the head condition holds', async () => {
    const id = uid('src');
    expect(await unmarked(a.records).writeRevision(head(id, 1, 1), rev(id, 1))).toBe(true);
    const before = await partition(id);
    // Head version 2 is right, but revision 1 exists already: the whole transaction fails.
    expect(await unmarked(a.records).writeRevision(head(id, 1, 2, content(id, 'overwrite')), rev(id, 1, content(id, 'overwrite')))).toBe(false);
    expect(await partition(id)).toEqual(before);
  });

  it('concurrent writers of the same next version: exactly one wins', async () => {
    const id = uid('src');
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => unmarked(a.records).writeRevision(head(id, 1, 1, content(id, `w${i}`)), rev(id, 1, content(id, `w${i}`)))));
    expect(results.filter(Boolean)).toHaveLength(1);
    const revs = await a.records.listRevisions(id);
    expect(revs).toHaveLength(1);
    expect((await a.records.getHead(id))!.content).toEqual(revs[0]!.content);
  });

  it('updateHead with a stale version returns false and writes neither head nor audit', async () => {
    const id = uid('src');
    expect(await unmarked(a.records).writeRevision(head(id, 1, 1, content(id), { review_status: 'pending', approved_revision: undefined, approved: undefined }), rev(id, 1))).toBe(true);
    const before = await partition(id);
    const audit: AuditEntry = { id, action: 'approve', revision: 1, by: 'key_ed', at: '2026-01-11T00:00:00.000Z' };
    expect(await unmarked(a.records).updateHead(head(id, 1, 1), audit)).toBe(false);
    expect(await unmarked(a.records).updateHead(head(id, 1, 3), audit)).toBe(false);
    expect(await partition(id)).toEqual(before);
    expect(await a.records.listAudit(id)).toEqual([]);

    expect(await unmarked(a.records).updateHead(head(id, 1, 2), audit)).toBe(true);
    expect((await a.records.getHead(id))!).toMatchObject({ version: 2, review_status: 'approved', approved_revision: 1 });
    expect(await a.records.listAudit(id)).toEqual([audit]);
    // The same version again is stale now.
    expect(await unmarked(a.records).updateHead(head(id, 1, 2, content(id), { review_status: 'rejected' }), { ...audit, action: 'reject' })).toBe(false);
    expect(await a.records.listAudit(id)).toHaveLength(1);
    // Revisions are not touched by head updates.
    expect(await a.records.listRevisions(id)).toHaveLength(1);
  });

  it('listRevisions is in revision order (past 9 and 10) and listAudit in time order', async () => {
    const id = uid('src');
    for (let r = 1; r <= 12; r++) expect(await unmarked(a.records).writeRevision(head(id, r, r, content(id, `t${r}`)), rev(id, r, content(id, `t${r}`)))).toBe(true);
    const revs = await a.records.listRevisions(id);
    expect(revs.map((r) => r.revision)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(revs.map((r) => title(r.content))).toEqual(Array.from({ length: 12 }, (_, i) => `t${i + 1}`));

    // Audit entries written out of time order come back in time order; two at the same instant both stay.
    const times = ['2026-02-03T00:00:00.000Z', '2026-01-20T10:00:00.000Z', '2026-02-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z'];
    let version = 12;
    for (const [i, at] of times.entries()) {
      version += 1;
      expect(await unmarked(a.records).updateHead(head(id, 12, version), { id, action: i % 2 ? 'approve' : 'reject', revision: 12, by: `key_${i}`, at })).toBe(true);
    }
    const audit = await a.records.listAudit(id);
    expect(audit.map((x) => x.at)).toEqual([...times].sort());
    expect(audit).toHaveLength(4);
    expect(new Set(audit.map((x) => x.by))).toEqual(new Set(['key_0', 'key_1', 'key_2', 'key_3']));
    // The audit entries are not revisions and not heads.
    expect(await a.records.listRevisions(id)).toHaveLength(12);
  });
});

describe('DynamoDbRecordStore over many records: getHeads and scanHeads', () => {
  // A table of its own, so counts are exact: 300 records with big contents (a ~12 KB head holding content
  // and approved, a ~6 KB revision): ~5.5 MB, several 1 MB scan pages per segment.
  const table = `many-heads-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: 300 }, (_, i) => `many-${String(i).padStart(4, '0')}`);
  const big = 'x'.repeat(6_000);
  let s: Adapters;
  beforeAll(async () => {
    s = createAdapters({ tableName: table, bucketName: 'unused', dynamodb: dynamodbClientConfig(inject('dynamodbEndpoint')) });
    await ensureTable(s.dynamodb, table);
    await pool(ids, 24, async (id) => {
      const c = content(id, `title ${id}`, { restricted: { notes: big } });
      expect(await unmarked(s.records).writeRevision(head(id, 1, 1, c), rev(id, 1, c))).toBe(true);
    });
    // A second revision and an audit entry for some, plus key and lease items beside them.
    await pool(ids.slice(0, 20), 16, async (id) => {
      const c = content(id, `title ${id} v2`, { restricted: { notes: big } });
      expect(await unmarked(s.records).writeRevision(head(id, 2, 2, c), rev(id, 2, c))).toBe(true);
      expect(await unmarked(s.records).updateHead(head(id, 2, 3, c), { id, action: 'approve', revision: 2, by: 'key_x', at: T0 })).toBe(true);
    });
    expect(await s.keys.putKey(apiKey(uid('key'), uid('hash')))).toBe(true);
    expect(await s.leases.acquire('publish', 'me', 60_000, new Date())).toBe(true);
  });
  afterAll(() => {
    s?.dynamodb.destroy();
    s?.s3.destroy();
  });

  it('the table holds the heads beside revisions, audit, key and lease items, over several raw scan pages', async () => {
    let items = 0;
    let rawPages = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const raw = await documentClient(s.dynamodb).send(new ScanCommand({ TableName: table, Select: 'COUNT', ConsistentRead: true, ExclusiveStartKey: start }));
      items += raw.Count ?? 0;
      rawPages += 1;
      start = raw.LastEvaluatedKey;
    } while (start);
    // 300 heads + 300 `by` entries + 320 revisions + 20 audit entries + 2 key items + 1 lease.
    expect(items).toBe(943);
    expect(rawPages).toBeGreaterThan(4);
  });

  it('getHeads reads more than 100 ids (in batches), ignoring missing and repeated ids', async () => {
    const missing = Array.from({ length: 20 }, () => uid('nope'));
    const asked = [...missing.slice(0, 10), ...ids, ...missing.slice(10), ...ids.slice(0, 30)];
    const found = await s.records.getHeads(asked);
    expect(found.size).toBe(300);
    for (const id of ids) expect(title(found.get(id)!.content)).toBe(id < 'many-0020' ? `title ${id} v2` : `title ${id}`);
    for (const id of missing) expect(found.has(id)).toBe(false);
    expect((await s.records.getHeads([])).size).toBe(0);
  });

  it('scanHeads with 4 segments returns every head exactly once, no other items, over more pages than segments', async () => {
    const seen = new Map<string, RecordHead>();
    let pages = 0;
    let count = 0;
    for await (const page of s.records.scanHeads(4)) {
      pages += 1;
      expect(page.length).toBeGreaterThan(0);
      for (const h of page) {
        count += 1;
        expect(h.content.kind).toBe('source');
        expect(typeof h.version).toBe('number');
        seen.set(h.id, h);
      }
    }
    expect(pages).toBeGreaterThan(4);
    expect(count).toBe(300);
    expect([...seen.keys()].sort()).toEqual(ids);
    // Heads come back as stored: the latest version, contents parsed.
    expect(seen.get(ids[0]!)).toMatchObject({ id: ids[0], revision: 2, version: 3, approved_revision: 2 });
    expect(seen.get(ids[299]!)).toEqual(head(ids[299]!, 1, 1, content(ids[299]!, `title ${ids[299]}`, { restricted: { notes: big } })));
  });

  it('an empty table yields nothing', async () => {
    const table = `scan-empty-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const s = createAdapters({ tableName: table, bucketName: 'unused', dynamodb: dynamodbClientConfig(inject('dynamodbEndpoint')) });
    try {
      await ensureTable(s.dynamodb, table);
      const pages = [];
      for await (const page of s.records.scanHeads(4)) pages.push(page);
      expect(pages).toEqual([]);
    } finally {
      s.dynamodb.destroy();
      s.s3.destroy();
    }
  });
});

function apiKey(keyId: string, hash: string, extra: Partial<ApiKey> = {}): ApiKey {
  return { key_id: keyId, key_sha256: hash, role: 'contributor', name: 'test', created_at: T0, created_by: 'key_ed', disabled: false, ...extra };
}

describe('DynamoDbKeyStore', () => {
  it('putKey stores a key found by its hash; the same id or the same hash again → false, nothing overwritten', async () => {
    const k = apiKey(uid('key'), randomBytes(32).toString('hex'), { role: 'editor', name: 'first' });
    expect(await a.keys.putKey(k)).toBe(true);
    expect(await a.keys.getKeyByHash(k.key_sha256)).toEqual(k);

    const sameId = apiKey(k.key_id, randomBytes(32).toString('hex'), { name: 'same id' });
    expect(await a.keys.putKey(sameId)).toBe(false);
    expect(await a.keys.getKeyByHash(sameId.key_sha256)).toBeUndefined();

    const sameHash = apiKey(uid('key'), k.key_sha256, { name: 'same hash', role: 'contributor' });
    expect(await a.keys.putKey(sameHash)).toBe(false);
    expect(await a.keys.getKeyByHash(k.key_sha256)).toEqual(k);
    // The failed put left no id item behind: the id of the refused key is free and unknown.
    expect(await a.keys.disableKey(sameHash.key_id, T0)).toBe(false);

    expect(await a.keys.putKey(k)).toBe(false);
    expect(await a.keys.getKeyByHash(randomBytes(32).toString('hex'))).toBeUndefined();
  });

  it('disableKey disables by id (idempotent, keeps the first time); unknown id → false', async () => {
    const k = apiKey(uid('key'), randomBytes(32).toString('hex'));
    expect(await a.keys.putKey(k)).toBe(true);
    expect(await a.keys.disableKey(k.key_id, '2026-02-01T00:00:00.000Z')).toBe(true);
    expect(await a.keys.getKeyByHash(k.key_sha256)).toEqual({ ...k, disabled: true, disabled_at: '2026-02-01T00:00:00.000Z' });
    expect(await a.keys.disableKey(k.key_id, '2026-03-01T00:00:00.000Z')).toBe(true);
    expect((await a.keys.getKeyByHash(k.key_sha256))!.disabled_at).toBe('2026-02-01T00:00:00.000Z');
    expect(await a.keys.disableKey(uid('key_unknown'), T0)).toBe(false);
    // Other keys are untouched.
    const other = apiKey(uid('key'), randomBytes(32).toString('hex'));
    expect(await a.keys.putKey(other)).toBe(true);
    expect((await a.keys.getKeyByHash(other.key_sha256))!.disabled).toBe(false);
  });
});

describe('DynamoDbLeaseStore', () => {
  const now = new Date('2026-01-10T12:00:00.000Z');
  const later = (ms: number) => new Date(now.getTime() + ms);

  it('acquire; a second owner is refused while the lease lives; the owner may acquire again', async () => {
    const name = uid('lease');
    expect(await a.leases.acquire(name, 'A', 60_000, now)).toBe(true);
    expect(await a.leases.acquire(name, 'B', 60_000, now)).toBe(false);
    expect(await a.leases.acquire(name, 'B', 60_000, later(59_000))).toBe(false);
    expect(await a.leases.acquire(name, 'A', 60_000, later(1_000))).toBe(true);
    // Only one of many concurrent owners gets a fresh lease.
    const fresh = uid('lease');
    const got = await Promise.all(['A', 'B', 'C', 'D', 'E'].map((o) => a.leases.acquire(fresh, o, 60_000, now)));
    expect(got.filter(Boolean)).toHaveLength(1);
  });

  it('an expired lease can be taken by another owner, and then the old owner can neither renew nor take it back', async () => {
    const name = uid('lease');
    expect(await a.leases.acquire(name, 'A', 60_000, now)).toBe(true);
    expect(await a.leases.acquire(name, 'B', 60_000, later(60_001))).toBe(true);
    expect(await a.leases.renew(name, 'A', 60_000, later(60_002))).toBe(false);
    expect(await a.leases.acquire(name, 'A', 60_000, later(60_002))).toBe(false);
    expect(await a.leases.renew(name, 'B', 60_000, later(60_003))).toBe(true);
  });

  it('renew: by the owner only, and not after expiry', async () => {
    const name = uid('lease');
    expect(await a.leases.renew(name, 'A', 60_000, now)).toBe(false); // no lease yet
    expect(await a.leases.acquire(name, 'A', 60_000, now)).toBe(true);
    expect(await a.leases.renew(name, 'B', 60_000, later(1_000))).toBe(false);
    expect(await a.leases.renew(name, 'A', 60_000, later(50_000))).toBe(true);
    // Renewed: still held at now + 100 s (past the first expiry, before the renewed one).
    expect(await a.leases.acquire(name, 'B', 60_000, later(100_000))).toBe(false);
    // Expired: the owner can no longer renew it.
    expect(await a.leases.renew(name, 'A', 60_000, later(200_000))).toBe(false);
  });

  it('release: by the owner only', async () => {
    const name = uid('lease');
    expect(await a.leases.acquire(name, 'A', 60_000, now)).toBe(true);
    await a.leases.release(name, 'B');
    expect(await a.leases.acquire(name, 'B', 60_000, now)).toBe(false);
    await a.leases.release(name, 'A');
    expect(await a.leases.acquire(name, 'B', 60_000, now)).toBe(true);
    await a.leases.release(name, 'A');
    expect(await a.leases.renew(name, 'B', 60_000, later(1_000))).toBe(true);
    // Releasing a lease that does not exist is harmless.
    await a.leases.release(uid('lease'), 'A');
  });
});

describe('DynamoDbReleaseStateStore', () => {
  it('commits only over the release it expects, so a publisher that lost its lease cannot move the record back', async () => {
    const { DynamoDbReleaseStateStore } = await import('../../storage/dynamodb-release-state.ts');
    const store = new DynamoDbReleaseStateStore(documentClient(a.dynamodb), tableName);
    const r1 = { version: '20260101T000000Z', manifest_sha256: 'a'.repeat(64), cut: 1 };
    const r2 = { version: '20260102T000000Z', manifest_sha256: 'b'.repeat(64), cut: 2 };
    expect(await store.commit(r1, null)).toBe(true);
    expect(await store.commit(r1, null)).toBe(false);
    expect(await store.commit(r2, r1.version)).toBe(true);
    // A stale publisher still thinking r1 is the latest:
    expect(await store.commit({ ...r1, latest_synced: true }, r1.version)).toBe(false);
    await store.prepare({ ...r2, version: '20260103T000000Z' });
    expect(await store.getLatest()).toEqual({ latest: r2, pending: { ...r2, version: '20260103T000000Z' } });
    // A commit clears what was prepared.
    expect(await store.commit({ ...r2, latest_synced: true }, r2.version)).toBe(true);
    expect(await store.getLatest()).toEqual({ latest: { ...r2, latest_synced: true } });
  });
});
