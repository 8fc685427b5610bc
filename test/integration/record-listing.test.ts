// The listing behind GET /records (storage/dynamodb-record-store.ts listHeads) against DynamoDB Local, in a
// table of its own: index partitions merged in order, cursors across pages and groups, the `by` entries
// kept where their heads are, and a page's cost bounded by the page, never a scan.
import { randomBytes } from 'node:crypto';
import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { dynamodbClientConfig } from '../../local/services.ts';
import { InvalidCursorError, type HeadListQuery, type ListStatus, type RecordHead, type StoredContent } from '../../pipeline/ports.ts';
import type { RecordKind } from '../../schemas/records.ts';
import { createAdapters, type Adapters } from '../../storage/adapters.ts';
import { DynamoDbRecordStore } from '../../storage/dynamodb-record-store.ts';
import { documentClient, ensureTable, keys } from '../../storage/dynamodb-table.ts';

const table = `listing-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
let a: Adapters;
let db: DynamoDBDocumentClient;

const KINDS: RecordKind[] = ['source', 'event', 'claim', 'person'];
const at = (minute: number) => new Date(Date.UTC(2026, 0, 10, 0, minute)).toISOString();

function head(id: string, kind: RecordKind, status: 'pending' | 'approved' | 'rejected', extra: Partial<RecordHead> = {}): RecordHead {
  const content = { id, kind, title: id } as unknown as StoredContent;
  return {
    version: 1,
    id,
    kind,
    revision: 1,
    review_status: status,
    content,
    content_sha256: 'sha',
    submitted_by: 'key_alice',
    created_at: at(0),
    updated_at: at(0),
    submitters: ['key_alice'],
    retracted: false,
    ...(status === 'approved' ? { approved_revision: 1, approved: content, approved_updated_at: at(0) } : {}),
    ...extra,
  };
}

const write = async (h: RecordHead, previous?: RecordHead) =>
  expect(await a.records.writeRevision(h, { id: h.id, kind: h.kind, revision: h.revision, content: h.content, content_sha256: 'sha', submitted_by: h.submitted_by, submitted_at: h.updated_at, review_status: h.review_status, changed_fields: [] }, { publishChanged: false }, previous)).toBe(true);

/** Every page of a listing, following cursors; fails on a page over the limit. */
async function all(query: Omit<HeadListQuery, 'cursor'>): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await a.listing.listHeads({ ...query, cursor });
    expect(page.heads.length).toBeLessThanOrEqual(query.limit);
    ids.push(...page.heads.map((h) => h.id));
    cursor = page.cursor;
    pages += 1;
    expect(pages).toBeLessThan(200);
  } while (cursor);
  return { ids, pages };
}

// 40 records: 24 pending (waiting since various minutes, some at the same minute), 8 approved, 4 rejected, 4 retracted.
const fixture: RecordHead[] = [];
const pending: RecordHead[] = [];
const byId = (hs: RecordHead[]) => hs.map((h) => h.id).sort();

beforeAll(async () => {
  a = createAdapters({ tableName: table, bucketName: 'unused', dynamodb: dynamodbClientConfig(inject('dynamodbEndpoint')) });
  db = documentClient(a.dynamodb);
  await ensureTable(a.dynamodb, table);
  for (let i = 0; i < 40; i++) {
    const kind = KINDS[i % 4]!;
    const id = `rec-${kind}-${String(i).padStart(3, '0')}`;
    const status = i < 24 ? 'pending' : i < 32 ? 'approved' : 'rejected';
    // Waiting times not in id order, with ties (the id breaks them).
    const h = head(id, kind, status, { pending_since: status === 'pending' ? at((i * 7) % 11) : undefined, submitters: i % 3 === 0 ? ['key_alice', 'key_bob'] : ['key_alice'], retracted: i >= 36 });
    fixture.push(h);
    if (status === 'pending') pending.push(h);
  }
  await Promise.all(fixture.map((h) => write(h)));
});
afterAll(() => {
  a?.dynamodb.destroy();
  a?.s3.destroy();
});

const waitingOrder = (hs: RecordHead[]) => [...hs].sort((x, y) => (x.pending_since! + x.id < y.pending_since! + y.id ? -1 : 1)).map((h) => h.id);

describe('listHeads', () => {
  it('pending: oldest first across every kind, paged by a cursor with no repeats or gaps', async () => {
    const { ids, pages } = await all({ status: 'pending', limit: 5 });
    expect(ids).toEqual(waitingOrder(pending));
    expect(pages).toBe(5);
  });

  it('one kind; approved, rejected and retracted by id; a retracted record only as retracted', async () => {
    expect((await all({ status: 'pending', kind: 'event', limit: 2 })).ids).toEqual(waitingOrder(pending.filter((h) => h.kind === 'event')));
    expect((await all({ status: 'approved', limit: 3 })).ids).toEqual(byId(fixture.filter((h) => h.review_status === 'approved')));
    expect((await all({ status: 'rejected', limit: 100 })).ids).toEqual(byId(fixture.filter((h) => h.review_status === 'rejected' && !h.retracted)));
    expect((await all({ status: 'retracted', limit: 1 })).ids).toEqual(byId(fixture.filter((h) => h.retracted)));
  });

  it('any: the pending first (oldest first), then every other by id, across the groups with any page size', async () => {
    const expected = [...waitingOrder(pending), ...byId(fixture.filter((h) => h.review_status !== 'pending'))];
    for (const limit of [1, 7, 24, 25, 500]) expect((await all({ status: 'any', limit })).ids, `limit ${limit}`).toEqual(expected);
    // A page that ends exactly at the end of the pending group points at the next group.
    const first = await a.listing.listHeads({ status: 'any', limit: 24 });
    expect(first.heads.map((h) => h.id)).toEqual(waitingOrder(pending));
    expect(first.cursor).toBeDefined();
  });

  it('submittedBy: only records the key submitted a revision of, in the same orders', async () => {
    const bobs = fixture.filter((h) => h.submitters.includes('key_bob'));
    expect((await all({ status: 'pending', submittedBy: 'key_bob', limit: 2 })).ids).toEqual(waitingOrder(bobs.filter((h) => h.review_status === 'pending')));
    expect((await all({ status: 'any', submittedBy: 'key_bob', limit: 3 })).ids).toEqual([
      ...waitingOrder(bobs.filter((h) => h.review_status === 'pending')),
      ...byId(bobs.filter((h) => h.review_status !== 'pending')),
    ]);
    expect((await all({ status: 'any', submittedBy: 'key_nobody', limit: 3 })).ids).toEqual([]);
  });

  it('a malformed cursor, or one made for another query, is refused', async () => {
    const page = await a.listing.listHeads({ status: 'pending', limit: 2 });
    for (const cursor of ['x', '!!!', Buffer.from('{"v":1}').toString('base64url'), Buffer.from('[]').toString('base64url'), 'a'.repeat(5000)]) {
      await expect(a.listing.listHeads({ status: 'pending', limit: 2, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    }
    for (const other of [{ status: 'approved' as ListStatus }, { status: 'pending' as ListStatus, kind: 'event' as RecordKind }, { status: 'pending' as ListStatus, submittedBy: 'key_alice' }]) {
      await expect(a.listing.listHeads({ ...other, limit: 2, cursor: page.cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    }
    // The same query with another page size may go on from it.
    expect((await a.listing.listHeads({ status: 'pending', limit: 3, cursor: page.cursor })).heads).toHaveLength(3);
  });
});

describe('the `by` entries follow their heads', () => {
  it('approval, rejection, retraction and a new submitter move or add entries in the same transaction', async () => {
    const id = `rec-move-${randomBytes(3).toString('hex')}`;
    const h1 = head(id, 'claim', 'pending', { pending_since: at(1) });
    await write(h1);
    const list = (key: string, status: ListStatus) => a.listing.listHeads({ status, submittedBy: key, kind: 'claim', limit: 500 }).then((p) => p.heads.map((h) => h.id));
    expect(await list('key_alice', 'pending')).toContain(id);

    // Carol submits revision 2: she gets an entry; the head stays pending from the same time.
    const h2 = { ...h1, version: 2, revision: 2, submitted_by: 'key_carol', submitters: ['key_alice', 'key_carol'], updated_at: at(5) };
    await write(h2, h1);
    for (const key of ['key_alice', 'key_carol']) expect(await list(key, 'pending'), key).toContain(id);

    const approved = { ...h2, version: 3, review_status: 'approved' as const, approved_revision: 2, approved: h2.content, pending_since: undefined };
    expect(await a.records.updateHead(approved, { id, action: 'approve', revision: 2, by: 'key_ed', at: at(6) }, { publishChanged: false }, h2)).toBe(true);
    for (const key of ['key_alice', 'key_carol']) {
      expect(await list(key, 'pending'), key).not.toContain(id);
      expect(await list(key, 'approved'), key).toContain(id);
    }
    const retracted = { ...approved, version: 4, retracted: true, retraction: { reason: 'r', at: at(7), by: 'key_ed' } };
    expect(await a.records.updateHead(retracted, { id, action: 'retract', revision: 2, by: 'key_ed', at: at(7) }, { publishChanged: false }, approved)).toBe(true);
    expect(await list('key_carol', 'approved')).not.toContain(id);
    expect(await list('key_carol', 'retracted')).toContain(id);
    expect(await list('key_ed', 'any')).not.toContain(id);
  });

  it('an entry the index still shows where its head no longer is gets dropped from the page', async () => {
    const id = `rec-stale-${randomBytes(3).toString('hex')}`;
    await write(head(id, 'source', 'approved', { submitters: ['key_dave'], submitted_by: 'key_dave' }));
    // As if the index lagged: an entry claiming the record is pending.
    await db.send(new PutCommand({ TableName: table, Item: { ...keys.submitter(id, 'key_dave'), id, kind: 'source', key_id: 'key_dave', by_pk: 'BY#key_dave#pending#source', by_sk: `${at(0)}#${id}` } }));
    expect((await a.listing.listHeads({ status: 'pending', submittedBy: 'key_dave', limit: 10 })).heads).toEqual([]);
  });

  it('a record with more submitters than a transaction holds still gets an entry for each', async () => {
    const id = `rec-many-${randomBytes(3).toString('hex')}`;
    const submitters = Array.from({ length: 95 }, (_, i) => `key_m${String(i).padStart(2, '0')}`);
    await write(head(id, 'event', 'pending', { pending_since: at(2), submitters, submitted_by: submitters[94]! }));
    const out = await db.send(new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :by)', ExpressionAttributeValues: { ':pk': keys.head(id).pk, ':by': 'BY#' }, ConsistentRead: true }));
    expect(out.Items).toHaveLength(95);
    expect((await a.listing.listHeads({ status: 'pending', submittedBy: 'key_m00', limit: 10 })).heads.map((h) => h.id)).toEqual([id]);
  });

  it('reindexHeads gives heads of an older key design their entries', async () => {
    const id = `rec-old-${randomBytes(3).toString('hex')}`;
    const old = head(id, 'person', 'pending', { pending_since: at(3), submitters: ['key_erin'], submitted_by: 'key_erin' });
    // A head as the previous version wrote it: index attributes but no key_design and no `by` entries.
    await db.send(
      new PutCommand({
        TableName: table,
        Item: { ...keys.head(id), ...old, content: JSON.stringify(old.content), heads_pk: 'H#0', queue_pk: 'Q#pending#person', queue_sk: `${at(3)}#${id}`, approved: undefined },
      }),
    );
    expect((await a.listing.listHeads({ status: 'pending', submittedBy: 'key_erin', limit: 10 })).heads).toEqual([]);

    expect(await new DynamoDbRecordStore(db, table).reindexHeads()).toBeGreaterThanOrEqual(1);

    expect((await a.listing.listHeads({ status: 'pending', submittedBy: 'key_erin', limit: 10 })).heads.map((h) => h.id)).toEqual([id]);
    expect(await a.records.getHead(id)).toEqual({ ...old, version: 1 });
    // Nothing left to do.
    expect(await new DynamoDbRecordStore(db, table).reindexHeads()).toBe(0);
  });
});

describe('a page costs about the page, whatever the ledger holds', () => {
  it('no scan, and the items read stay within a small multiple of the limit', async () => {
    const commands: Array<{ name: string; index?: string; items: number }> = [];
    const counting = new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: { constructor: { name: string }; input: { IndexName?: string } }) => {
          const out = (await target.send(command as never)) as { Items?: unknown[]; Responses?: Record<string, unknown[]> };
          commands.push({ name: command.constructor.name, index: command.input.IndexName, items: out.Items?.length ?? Object.values(out.Responses ?? {}).flat().length });
          return out;
        };
      },
    }) as DynamoDBDocumentClient;
    const store = new DynamoDbRecordStore(counting, table);

    for (const query of [{ status: 'pending' as ListStatus, limit: 4 }, { status: 'any' as ListStatus, limit: 4 }, { status: 'any' as ListStatus, limit: 4, submittedBy: 'key_alice' }]) {
      commands.length = 0;
      const page = await store.listHeads(query);
      expect(page.heads).toHaveLength(4);
      expect(commands.every((c) => c.name === 'QueryCommand' || c.name === 'BatchGetCommand'), JSON.stringify(commands)).toBe(true);
      expect(commands.filter((c) => c.name === 'QueryCommand').every((c) => c.index === 'queue' || c.index === 'by_submitter'), JSON.stringify(commands)).toBe(true);
      // At most one small read per partition of the group (4 kinds × 1 status): ≤ 10 items each.
      expect(commands.reduce((n, c) => n + c.items, 0)).toBeLessThanOrEqual(4 * 10 + 4);
    }
  });
});
