// Grouped, conditional ingest writes (issue 11, 1.): several records per transaction, each whole and on
// its own condition, against DynamoDB Local through the real store, the real pipeline and the handlers.
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRecords } from '../../pipeline/ingest-records.ts';
import type { GroupWriteOutcome, Principal, RecordHead, RecordStore, RevisionEntry, RevisionWrite, StoredContent } from '../../pipeline/ports.ts';
import { DynamoDbChangeLog } from '../../storage/dynamodb-change-log.ts';
import { DynamoDbRecordStore } from '../../storage/dynamodb-record-store.ts';
import { documentClient, keys } from '../../storage/dynamodb-table.ts';
import { event, retract, source, submitOk, uid, type Rec } from '../support/release.ts';
import { openRevisions } from '../support/sealed.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
let real: DynamoDbRecordStore;

beforeAll(async () => {
  stack = await startTestStack();
  real = stack.ctx.records as DynamoDbRecordStore;
}, 60_000);
afterAll(() => stack?.close());

const EDITOR: Principal = { keyId: 'key_grouped_editor', role: 'editor' };

/** One call of writeRevisions as the real store answered it. */
interface GroupCall {
  ids: string[];
  outcomes: GroupWriteOutcome[];
}

/**
 * The real store, watched: every writeRevisions call and its outcomes are kept; `before` runs before
 * a call is handed to the real store (another writer acting between the batched read and the write).
 */
function watched(before?: (writes: ReadonlyArray<RevisionWrite>) => Promise<void>): { store: RecordStore; calls: GroupCall[] } {
  const calls: GroupCall[] = [];
  const store = new Proxy(real, {
    get(target, prop) {
      if (prop === 'writeRevisions') {
        return async (writes: ReadonlyArray<RevisionWrite>) => {
          await before?.(writes);
          const outcomes = await target.writeRevisions(writes);
          calls.push({ ids: writes.map((w) => w.head.id), outcomes });
          return outcomes;
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, calls };
}

/** Every item stored under a record's partition, raw. */
async function partition(id: string): Promise<Array<Record<string, unknown>>> {
  const out = await documentClient(stack.ctx.dynamodb).send(
    new QueryCommand({ TableName: stack.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.head(id).pk }, ConsistentRead: true }),
  );
  return out.Items ?? [];
}

const revisionKeys = async (id: string) => (await partition(id)).map((i) => i.sk as string).filter((sk) => sk.startsWith('REV#'));
const submit = (records: unknown[], key = stack.editorKey) => call(stack, 'POST', '/records', { key, json: { records } });

/** Asserts the record's revisions are exactly 1..n with n its head's revision, and returns n. */
async function consecutive(id: string): Promise<number> {
  const head = await real.getHead(id);
  const numbers = (await real.listRevisions(id)).map((r) => r.revision);
  expect(numbers, id).toEqual(Array.from({ length: head!.revision }, (_, i) => i + 1));
  expect(await revisionKeys(id), id).toHaveLength(head!.revision);
  return head!.revision;
}

describe('a group with a record another writer changed between the read and the write', () => {
  it('fails that record alone: it is read again and written after the other writer; the rest of its group is written once', async () => {
    const stale = uid('src-stale');
    await submitOk(stack, stack.editorKey, [source(stale, { title: 'first' })]);
    const others = Array.from({ length: 39 }, () => uid('src-grp'));
    let interfered = false;
    const { store, calls } = watched(async (writes) => {
      if (interfered || !writes.some((w) => w.head.id === stale)) return;
      interfered = true;
      await submitOk(stack, stack.editorKey, [source(stale, { title: 'the other writer' })]);
    });
    const out = await ingestRecords([source(stale, { title: 'ours' }), ...others.map((id) => source(id))], EDITOR, { ...stack.ctx, records: store });

    expect(out.rejected).toBe(0);
    expect(out.results[0]).toMatchObject({ id: stale, status: 'updated', revision: 3 });
    for (const r of out.results.slice(1)) expect(r).toMatchObject({ status: 'created', revision: 1 });
    // The stale record's group went to the store with others; it alone failed there, they were written.
    const first = calls.find((c) => c.ids.includes(stale))!;
    expect(first.ids.length).toBeGreaterThan(1);
    expect(first.ids.filter((_, i) => first.outcomes[i] === 'stale')).toEqual([stale]);
    expect(first.outcomes.filter((o) => o === 'written')).toHaveLength(first.ids.length - 1);
    // It ends consistent: revisions 1, 2, 3 (first, the other writer's, ours), nothing else in its partition.
    expect(await consecutive(stale)).toBe(3);
    const titles = (await openRevisions(stack.ctx, await real.listRevisions(stale))).map((r) => (r.content as unknown as { title: string }).title);
    expect(titles).toEqual(['first', 'the other writer', 'ours']);
    const heads = await real.getHeads(others);
    expect(heads.size).toBe(others.length);
    for (const id of others) expect(await consecutive(id)).toBe(1);
  }, 60_000);

  it('a record retracted meanwhile is rejected on its fresh read, with no orphan revision; the others of its group are written', async () => {
    const gone = uid('src-gone');
    await submitOk(stack, stack.editorKey, [source(gone)]);
    const others = Array.from({ length: 29 }, () => uid('src-grp'));
    let interfered = false;
    const { store, calls } = watched(async (writes) => {
      if (interfered || !writes.some((w) => w.head.id === gone)) return;
      interfered = true;
      // A retraction changes the head only (no revision): only the head's condition can catch it.
      await retract(stack, 'source', gone, 'a duplicate');
    });
    const out = await ingestRecords([...others.slice(0, 10).map((id) => source(id)), source(gone, { title: 'changed' }), ...others.slice(10).map((id) => source(id))], EDITOR, { ...stack.ctx, records: store });

    expect(out.results[10]).toMatchObject({ id: gone, status: 'rejected', errors: [{ path: '/id', code: 'record_retracted' }] });
    expect(out.accepted).toBe(others.length);
    const group = calls.find((c) => c.ids.includes(gone))!;
    expect(group.ids.length).toBeGreaterThan(1);
    expect(group.outcomes[group.ids.indexOf(gone)]).toBe('stale');
    expect(await revisionKeys(gone)).toEqual(['REV#0000000001']);
    expect(await real.getHead(gone)).toMatchObject({ retracted: true, revision: 1 });
    for (const id of others) expect(await consecutive(id)).toBe(1);
  }, 60_000);
});

/** A source's content as the store keeps it (the store does not look inside). */
const content = (id: string, title = 'A report', extra: Record<string, unknown> = {}): StoredContent =>
  ({ id, kind: 'source', title, publisher: 'IHR', publisher_type: 'ngo', medium: 'article', reliability: 'unknown', ...extra }) as StoredContent;

/** A write of revision `revision` over a head of version `version - 1`, as the pipeline plans one. */
function revisionWrite(id: string, revision: number, version: number, opts: { approved?: boolean; submitters?: string[]; c?: StoredContent } = {}): RevisionWrite {
  const c = opts.c ?? content(id);
  const at = new Date().toISOString();
  const approved = opts.approved ?? false;
  const head: RecordHead = {
    version,
    id,
    kind: 'source',
    revision,
    review_status: approved ? 'approved' : 'pending',
    content: c,
    content_sha256: `sha-${revision}`,
    submitted_by: 'key_a',
    created_at: at,
    updated_at: at,
    submitters: opts.submitters ?? ['key_a'],
    approved_revision: approved ? revision : undefined,
    approved: approved ? c : undefined,
    retracted: false,
    pending_since: approved ? undefined : at,
  };
  const entry: RevisionEntry = { id, kind: 'source', revision, content: c, content_sha256: `sha-${revision}`, submitted_by: 'key_a', submitted_at: at, review_status: head.review_status, changed_fields: [] };
  return { head, revision: entry, opts: { publishChanged: approved } };
}

describe('DynamoDbRecordStore.writeRevisions', () => {
  it('a transaction cancelled for one record’s head condition: that record is stale and nothing of it is written; the others are written on the next send', async () => {
    const [a, x, b] = [uid('src-a'), uid('src-x'), uid('src-b')];
    expect(await real.writeRevision(revisionWrite(x, 1, 1).head, revisionWrite(x, 1, 1).revision, { publishChanged: false })).toBe(true);
    // A review moved its head to version 2 without a revision: only the head's condition can tell.
    const reviewed = { ...revisionWrite(x, 1, 2).head, review_status: 'rejected' as const };
    expect(await real.updateHead(reviewed, { id: x, action: 'reject', revision: 1, by: 'key_e', at: new Date().toISOString() }, { publishChanged: false })).toBe(true);
    const outcomes = await real.writeRevisions([revisionWrite(a, 1, 1), revisionWrite(x, 2, 2), revisionWrite(b, 1, 1)]);
    expect(outcomes).toEqual(['written', 'stale', 'written']);
    expect(await revisionKeys(x)).toEqual(['REV#0000000001']);
    expect(await real.getHead(x)).toMatchObject({ version: 2, revision: 1, review_status: 'rejected' });
    for (const id of [a, b]) expect((await partition(id)).map((i) => i.sk).sort()).toEqual(['BY#key_a', 'HEAD', 'REV#0000000001']);
  });

  it('packs whole records up to 100 actions: with 30 submitters each (32 actions), three records go and the rest are not sent', async () => {
    const submitters = Array.from({ length: 30 }, (_, i) => `key_${i}`);
    const ids = Array.from({ length: 5 }, () => uid('src-many'));
    const writes = ids.map((id) => revisionWrite(id, 1, 1, { submitters }));
    expect(await real.writeRevisions(writes)).toEqual(['written', 'written', 'written', 'not_sent', 'not_sent']);
    expect(await real.writeRevisions(writes.slice(3))).toEqual(['written', 'written']);
    for (const id of ids) expect((await partition(id)).filter((i) => (i.sk as string).startsWith('BY#'))).toHaveLength(30);
  });

  it('packs under the 4 MB a transaction may carry: large records are split over several calls, each record whole', async () => {
    // Each record about 360 KB (head and revision each hold the content): twelve would be 4.3 MB.
    const big = 'x'.repeat(180_000);
    const ids = Array.from({ length: 12 }, () => uid('src-big'));
    const writes = ids.map((id) => revisionWrite(id, 1, 1, { c: content(id, 'big', { description: big }) }));
    const first = await real.writeRevisions(writes);
    const sent = first.filter((o) => o === 'written').length;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(ids.length);
    expect(first.slice(sent).every((o) => o === 'not_sent')).toBe(true);
    let rest = writes.slice(sent);
    while (rest.length > 0) {
      const next = await real.writeRevisions(rest);
      expect(next[0]).toBe('written');
      rest = rest.filter((_, i) => next[i] === 'not_sent');
    }
    for (const id of ids) expect(await revisionKeys(id)).toEqual(['REV#0000000001']);
  });

  it('marks each record of a group after a fence a publish raised above the writer’s clock, and stamps first_public_at with its mark', async () => {
    // A writer whose clock is 10 minutes behind the publisher's: its first marks fall below the fence.
    const db = documentClient(stack.ctx.dynamodb);
    const lagging = new DynamoDbRecordStore(db, stack.tableName!, () => Date.now() - 600_000);
    const cut = await new DynamoDbChangeLog(db, stack.tableName!).advanceCut();
    const ids = Array.from({ length: 12 }, () => uid('src-fenced'));
    expect(await lagging.writeRevisions(ids.map((id) => revisionWrite(id, 1, 1, { approved: true })))).toEqual(ids.map(() => 'written'));
    for (const id of ids) {
      const head = await real.getHead(id);
      expect(head!.first_public_at).toBeGreaterThan(cut);
      const marks = await db.send(new QueryCommand({ TableName: stack.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.mark(id, 0).pk }, ConsistentRead: true }));
      const mine = (marks.Items ?? []).filter((m) => m.id === id).map((m) => Number((m.sk as string).split('#')[0]));
      expect(mine).toEqual([head!.first_public_at]);
    }
  });
});

describe('concurrent batches', () => {
  it('two concurrent conflicting ingests of 300 records each: every record ends with consecutive revisions, each acknowledged update stored as sent', async () => {
    const ids = Array.from({ length: 300 }, () => uid('src-race'));
    await submitOk(stack, stack.editorKey, ids.map((id) => source(id, { title: 'base' })));
    const { store, calls } = watched();
    stack.ctx.records = store;
    let answers;
    try {
      answers = await Promise.all(['A', 'B'].map((w) => submit(ids.map((id) => source(id, { title: `writer ${w}` })))));
    } finally {
      stack.ctx.records = real;
    }
    for (const a of answers) expect(a.status).toBe(200);
    // Groups were really sent, and the writers really met in them.
    expect(calls.some((c) => c.ids.length > 1)).toBe(true);
    expect(calls.some((c) => c.outcomes.includes('stale'))).toBe(true);
    for (const [i, id] of ids.entries()) {
      const told = answers.map((a, w) => ({ writer: w === 0 ? 'A' : 'B', r: a.body.results[i] }));
      for (const { r } of told) if (r.status === 'rejected') expect(r).toMatchObject({ retryable: true, errors: [{ code: 'write_conflict' }] });
      const updated = told.filter(({ r }) => r.status === 'updated');
      const n = await consecutive(id);
      expect(n).toBe(1 + updated.length);
      const stored = await openRevisions(stack.ctx, await real.listRevisions(id));
      for (const { writer, r } of updated) expect((stored[r.revision - 1]!.content as unknown as { title: string }).title).toBe(`writer ${writer}`);
      expect(new Set(updated.map(({ r }) => r.revision)).size).toBe(updated.length);
    }
  }, 240_000);

  it('the same batch of 200 records sent 5 times at once: one revision per record, created once and unchanged four times, through groups', async () => {
    const sources = Array.from({ length: 50 }, () => source(uid('src-five')));
    const events = Array.from({ length: 150 }, (_, i) => event(uid('evt-five'), [sources[i % 50]!.id as string, sources[(i + 7) % 50]!.id as string]));
    // Events first: their sources come later in the batch.
    const records: Rec[] = [...events, ...sources];
    const { store, calls } = watched();
    stack.ctx.records = store;
    let answers;
    try {
      answers = await Promise.all(Array.from({ length: 5 }, () => submit(records)));
    } finally {
      stack.ctx.records = real;
    }
    for (const a of answers) expect(a.status, a.text.slice(0, 500)).toBe(200);
    expect(calls.some((c) => c.ids.length > 1)).toBe(true);
    expect(calls.some((c) => c.outcomes.includes('stale'))).toBe(true);
    for (const [i, rec] of records.entries()) {
      expect(answers.map((a) => a.body.results[i].status).sort(), rec.id as string).toEqual(['created', 'unchanged', 'unchanged', 'unchanged', 'unchanged']);
      expect(await revisionKeys(rec.id as string)).toEqual(['REV#0000000001']);
    }
  }, 240_000);
});
