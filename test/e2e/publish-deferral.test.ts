// Referential completeness without refusal (PUBLISHING.md "Consistency and failure"): a record whose
// newest approved revision refers to something not in the release goes out at its previous published
// revision, or is held back, and is named under `deferred`; the next release that can hold it does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRecords } from '../../pipeline/ingest-records.ts';
import type { RecordStore } from '../../pipeline/ports.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';
import { event, publishOk, releaseNdjson, retract, source, submitOk, type Json } from '../support/release.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const ids = (rows: Json[]) => rows.map((r) => `${r.id}@${r.revision}`);

describe('deferral', () => {
  it('an event approved while its source was not yet visible is held back, named, and released by the next publish once the source is in', async () => {
    await submitOk(stack, stack.editorKey, [source('src-d-base')]);
    expect((await publishOk(stack)).published).toBe(true);
    // A contributor's source waits for review.
    const contributor = (await call(stack, 'POST', '/keys', { key: stack.editorKey, json: { role: 'contributor', name: 'c' } })).body;
    await submitOk(stack, contributor.key, [source('src-d-late')]);
    // The race the publisher must survive: an editor's event passes the reference check on a read taken
    // as if the source were approved (a moment later it is; here it never was yet), so the store holds an
    // approved event citing a source that no release holds.
    const racing: RecordStore = Object.create(stack.ctx.records, {
      getHeads: {
        value: async (list: string[]) => {
          const heads = await stack.ctx.records.getHeads(list);
          const late = heads.get('src-d-late');
          if (late) heads.set('src-d-late', { ...late, approved_revision: 1, approved: late.content });
          return heads;
        },
      },
    });
    const out = await ingestRecords([event('evt-d-early', ['src-d-late'])], { keyId: 'key_editor_race', role: 'editor' }, { ...stack.ctx, records: racing });
    expect(out.results[0]).toMatchObject({ status: 'created', review_status: 'approved' });

    const held = await publishOk(stack);
    expect(held).toMatchObject({ published: false, reason: 'no changes' });
    expect(held.deferred).toEqual([{ id: 'evt-d-early', reason: expect.stringContaining('src-d-late') }]);

    // Nothing marks the event again; approving its source is enough for the next release to carry both.
    expect((await call(stack, 'POST', '/records/source/src-d-late/review', { key: stack.editorKey, json: { decision: 'approve' } })).status).toBe(200);
    const next = await publishOk(stack);
    expect(next).toMatchObject({ published: true, changes: { add: 2, modify: 0, delete: 0 }, deferred: [] });
    expect(ids(await releaseNdjson(stack, next.version, 'events'))).toContain('evt-d-early@1');
    // And it leaves the deferred set: a publish after that has nothing to do and names nothing.
    expect(await publishOk(stack)).toEqual({ published: false, reason: 'no changes' });
  });

  it('a new revision citing a source retracted in the same window goes out at its previous revision; a corrected one replaces it', async () => {
    await submitOk(stack, stack.editorKey, [source('src-r-ok'), source('src-r-bad'), event('evt-r', ['src-r-ok'])]);
    const first = await publishOk(stack);
    expect(first.published).toBe(true);

    await submitOk(stack, stack.editorKey, [event('evt-r', ['src-r-bad'], { description: 'now citing the bad source' }), event('evt-r-new', ['src-r-bad'])]);
    await retract(stack, 'source', 'src-r-bad', 'fabricated');
    const r2 = await publishOk(stack);
    expect(r2.published).toBe(true);
    expect(r2.deferred).toEqual([
      { id: 'evt-r', reason: expect.stringContaining('src-r-bad') },
      { id: 'evt-r-new', reason: expect.stringContaining('src-r-bad') },
    ]);
    const events = await releaseNdjson(stack, r2.version, 'events');
    expect(ids(events)).toContain('evt-r@1');
    expect(ids(events).some((x) => x.startsWith('evt-r-new@'))).toBe(false);
    expect(await releaseNdjson(stack, r2.version, 'changes')).toEqual([{ op: 'delete', table_name: 'sources', id: 'src-r-bad', revision: null, previous_revision: 1, reason: 'fabricated' }]);

    await submitOk(stack, stack.editorKey, [event('evt-r', ['src-r-ok'], { description: 'corrected' })]);
    const r3 = await publishOk(stack);
    expect(r3).toMatchObject({ published: true, changes: { add: 0, modify: 1, delete: 0 } });
    expect(r3.deferred).toEqual([{ id: 'evt-r-new', reason: expect.stringContaining('src-r-bad') }]);
    expect(ids(await releaseNdjson(stack, r3.version, 'events'))).toContain('evt-r@3');
    // Still held back while nothing changes: a publish with nothing to publish names it too.
    expect(await publishOk(stack)).toEqual({ published: false, reason: 'no changes', deferred: [{ id: 'evt-r-new', reason: expect.stringContaining('src-r-bad') }] });
  });
});
