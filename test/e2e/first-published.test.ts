// A record's first release (DATA.md `first_published`) as the API shows it, without a write per record
// after a release (issue: publishing at scale, 6.): the head keeps the time of its first change mark while
// publishable, the store keeps one history item per committed release, and only records a release held
// back get an item of their own.
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRecords } from '../../pipeline/ingest-records.ts';
import type { RecordStore } from '../../pipeline/ports.ts';
import { documentClient } from '../../storage/dynamodb-table.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';
import { event, newKey, publishOk, retract, review, source, submitOk, uid, type Json } from '../support/release.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

async function firstPublished(kind: string, id: string): Promise<string | null> {
  const r = await call(stack, 'GET', `/records/${kind}/${id}`, { key: stack.editorKey });
  expect(r.status, r.text).toBe(200);
  return (r.body as Json).first_published;
}

/** Every item of the raw table whose sort key is `sk`. */
async function itemsWithSk(sk: string): Promise<Json[]> {
  const out: Json[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await documentClient(stack.ctx.dynamodb).send(new ScanCommand({ TableName: stack.ctx.settings.tableName, ExclusiveStartKey: start, FilterExpression: 'sk = :sk', ExpressionAttributeValues: { ':sk': sk } }));
    out.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

describe('first_published', () => {
  it('is the release a record first appeared in, kept through later revisions; null before any release and for a pending record', async () => {
    const a = uid('src-fp-a');
    await submitOk(stack, stack.editorKey, [source(a)]);
    expect(await firstPublished('source', a)).toBeNull();
    const v1 = (await publishOk(stack)).version as string;
    expect(await firstPublished('source', a)).toBe(v1);

    const b = uid('src-fp-b');
    await submitOk(stack, stack.editorKey, [source(a, { title: 'Corrected title' }), source(b)]);
    const contributor = await newKey(stack, 'contributor');
    const pending = uid('src-fp-pending');
    await submitOk(stack, contributor.key, [source(pending)]);
    const v2 = (await publishOk(stack)).version as string;
    expect(v2 > v1).toBe(true);
    expect(await firstPublished('source', a)).toBe(v1);
    expect(await firstPublished('source', b)).toBe(v2);
    expect(await firstPublished('source', pending)).toBeNull();
    // Retracted after it was published: it did appear, in v1.
    await retract(stack, 'source', b, 'duplicate');
    await publishOk(stack);
    expect(await firstPublished('source', b)).toBe(v2);
  });

  it('costs no write per record after a release: 40 new records, no item per record beside their heads', async () => {
    const before = (await itemsWithSk('PUBLISHED')).length;
    const many = Array.from({ length: 40 }, () => source(uid('src-fp-many')));
    await submitOk(stack, stack.editorKey, many);
    const v = (await publishOk(stack)).version as string;
    expect((await itemsWithSk('PUBLISHED')).length).toBe(before);
    // One history item per release instead.
    const history = (await documentClient(stack.ctx.dynamodb).send(new ScanCommand({ TableName: stack.ctx.settings.tableName, FilterExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'RELEASE#history' } }))).Items ?? [];
    expect(history.map((h) => h.version)).toContain(v);
    for (const r of many.slice(0, 3)) expect(await firstPublished('source', r.id as string)).toBe(v);
  });

  it('a record retracted before any release held it was never published: null, even after later releases', async () => {
    const gone = uid('src-fp-gone');
    await submitOk(stack, stack.editorKey, [source(gone)]);
    await retract(stack, 'source', gone, 'submitted by mistake');
    await submitOk(stack, stack.editorKey, [source(uid('src-fp-other'))]);
    expect((await publishOk(stack)).published).toBe(true);
    expect(await firstPublished('source', gone)).toBeNull();
  });

  it('a retraction after a publish has started (its fence at or past the approval) does not say "never published": that publish may hold it', async () => {
    const raced = uid('src-fp-raced');
    await submitOk(stack, stack.editorKey, [source(raced)]);
    // What a publish does first: raise the fences to its cut, past the approval's mark.
    await stack.ctx.changes.advanceCut();
    await retract(stack, 'source', raced, 'retracted while a publish runs');
    const head = await stack.ctx.records.getHead(raced);
    expect(head?.first_public_at).toBeGreaterThan(0);
  });

  it('a record a release held back first appears in the release that holds it, not the one that held it back; one held back and then retracted never does', async () => {
    const contributor = await newKey(stack, 'contributor');
    const late = uid('src-fp-late');
    const lateToo = uid('src-fp-late2');
    await submitOk(stack, contributor.key, [source(late), source(lateToo)]);
    // An editor's events pass the reference check on a read taken as if their sources were approved
    // (the race deferral exists for), so the store holds approved events citing sources no release holds.
    const racing: RecordStore = Object.create(stack.ctx.records, {
      getHeads: {
        value: async (list: string[]) => {
          const heads = await stack.ctx.records.getHeads(list);
          for (const id of [late, lateToo]) {
            const h = heads.get(id);
            if (h) heads.set(id, { ...h, approved_revision: 1, approved: h.content });
          }
          return heads;
        },
      },
    });
    const held = uid('evt-fp-held');
    const heldThenGone = uid('evt-fp-gone');
    const out = await ingestRecords([event(held, [late]), event(heldThenGone, [lateToo])], { keyId: 'key_editor_race', role: 'editor' }, { ...stack.ctx, records: racing });
    expect(out.results.map((r) => r.status)).toEqual(['created', 'created']);
    await submitOk(stack, stack.editorKey, [source(uid('src-fp-meanwhile'))]);
    const holding = await publishOk(stack);
    expect(holding.published).toBe(true);
    expect(holding.deferred.map((d: Json) => d.id).sort()).toEqual([held, heldThenGone].sort());
    expect(await firstPublished('event', held)).toBeNull();

    await review(stack, 'source', late, 'approve');
    await retract(stack, 'event', heldThenGone, 'could not be confirmed');
    const next = await publishOk(stack);
    expect(next.published).toBe(true);
    expect(next.deferred).toEqual([]);
    expect(await firstPublished('event', held)).toBe(next.version);
    expect(await firstPublished('event', heldThenGone)).toBeNull();
    // And it stays so once the deferred set has let go of them.
    await submitOk(stack, stack.editorKey, [source(uid('src-fp-after'))]);
    expect((await publishOk(stack)).published).toBe(true);
    expect(await firstPublished('event', held)).toBe(next.version);
    expect(await firstPublished('event', heldThenGone)).toBeNull();
  });
});
