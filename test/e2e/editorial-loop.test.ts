// The editorial loop of API.md through the real handlers, DynamoDB Local and the local S3 server: the
// review queue (GET /records) with its order, filters and cursors; patches checked against the stored
// revisions; history; reviews on the revision seen, one at a time and in bulk; four eyes on and off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../pipeline/canonical.ts';
import { applyPatch } from '../../pipeline/json-patch.ts';
import { redactContent } from '../../pipeline/redact.ts';
import type { RecordKind } from '../../schemas/records.ts';
import { ListRecordsResult, RecordHistory, ReviewsResult } from '../../schemas/api.ts';
import { openHead, openRevisions } from '../support/sealed.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';
import { claim, event, source, uid, type Json, type Rec } from '../support/release.ts';

type Res = Awaited<ReturnType<typeof call>>;
type Key = { key: string; id: string };

function expectProblem(r: Res, status: number, code?: string): void {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  if (code !== undefined) expect(r.body.code, r.text).toBe(code);
}

/** A 200 whose body the schema GET /openapi.json publishes describes exactly (no field more or less). */
function ok<T>(r: Res, schema: { parse(v: unknown): T }): T {
  expect(r.status, r.text).toBe(200);
  expect(schema.parse(r.body)).toEqual(r.body);
  return r.body as T;
}

async function keyFor(stack: TestStack, role: 'contributor' | 'editor'): Promise<Key> {
  const r = await call(stack, 'POST', '/keys', { key: stack.editorKey, json: { role, name: uid(role) } });
  expect(r.status, r.text).toBe(201);
  return { key: r.body.key, id: r.body.key_id };
}

const submit = async (stack: TestStack, key: string, records: Rec[]): Promise<Json[]> => {
  const r = await call(stack, 'POST', '/records', { key, json: { records } });
  expect(r.status, r.text).toBe(200);
  expect(r.body.rejected, r.text).toBe(0);
  return r.body.results;
};
const list = (stack: TestStack, key: string | undefined, query = '') => call(stack, 'GET', `/records${query ? `?${query}` : ''}`, { key });
const history = (stack: TestStack, key: string | undefined, kind: string, id: string) => call(stack, 'GET', `/records/${kind}/${id}/history`, { key });
const review = (stack: TestStack, key: string | undefined, kind: string, id: string, body: Json) => call(stack, 'POST', `/records/${kind}/${id}/review`, { key, json: body });
const reviews = (stack: TestStack, key: string | undefined, decisions: Json[]) => call(stack, 'POST', '/reviews', { key, json: { decisions } });

/** Every item of a listing, page after page. */
async function listAll(stack: TestStack, key: string, query: string, limit: number): Promise<{ items: Json[]; pages: number }> {
  const items: Json[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const r = await list(stack, key, `${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    const body = ok(r, ListRecordsResult);
    expect(body.items.length).toBeLessThanOrEqual(limit);
    items.push(...body.items);
    cursor = body.next_cursor;
    pages += 1;
    expect(pages).toBeLessThan(100);
  } while (cursor);
  return { items, pages };
}

/** The ids in the order the queue must give: by the time each started waiting, then by id. */
async function waitingOrder(stack: TestStack, ids: string[]): Promise<string[]> {
  const heads = await stack.ctx.records.getHeads(ids);
  return [...heads.values()].sort((a, b) => (`${a.pending_since}#${a.id}` < `${b.pending_since}#${b.id}` ? -1 : 1)).map((h) => h.id);
}

describe('with the single-editor policy (the default)', () => {
  let stack: TestStack;
  let alice: Key;
  let bob: Key;
  let editor2: Key;
  let editorId: string;
  const SRC = uid('src-queue');
  const pendingIds: string[] = [];
  const approvedIds: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack();
    [alice, bob, editor2] = await Promise.all([keyFor(stack, 'contributor'), keyFor(stack, 'contributor'), keyFor(stack, 'editor')]);
    editorId = (await stack.ctx.keys.getKeyByHash(sha256Hex(stack.editorKey)))!.key_id;
    await submit(stack, stack.editorKey, [source(SRC)]);
    approvedIds.push(SRC);
    // 13 pending records, one request each so that they wait from different moments; alternate submitters and kinds.
    for (let i = 0; i < 13; i++) {
      const who = i % 2 === 0 ? alice : bob;
      const id = uid(`q${String(i).padStart(2, '0')}`);
      await submit(stack, who.key, [i % 3 === 0 ? event(id, [SRC]) : source(id)]);
      pendingIds.push(id);
    }
    // Editors' own submissions land approved.
    for (let i = 0; i < 3; i++) {
      const id = uid(`a${i}`);
      await submit(stack, stack.editorKey, [source(id)]);
      approvedIds.push(id);
    }
  });
  afterAll(async () => {
    await stack?.close();
  });

  describe('GET /records', () => {
    it('no key → 401; editors list every record, a contributor only those it submitted a revision of', async () => {
      expectProblem(await list(stack, undefined), 401, 'unauthorized');
      const editor = ok(await list(stack, stack.editorKey, 'limit=500'), ListRecordsResult);
      expect(editor.items.map((x) => x.id)).toEqual(await waitingOrder(stack, pendingIds));
      const mine = ok(await list(stack, alice.key, 'limit=500'), ListRecordsResult);
      expect(mine.items.map((x) => x.id)).toEqual(await waitingOrder(stack, pendingIds.filter((_, i) => i % 2 === 0)));
      const bobs = ok(await list(stack, bob.key, 'limit=500'), ListRecordsResult);
      expect(bobs.items.map((x) => x.id)).toEqual(await waitingOrder(stack, pendingIds.filter((_, i) => i % 2 === 1)));
      // submitted_by only for editors.
      for (const item of editor.items) expect(item.submitted_by).toBe(pendingIds.indexOf(item.id) % 2 === 0 ? alice.id : bob.id);
      for (const item of [...mine.items, ...bobs.items]) expect(item).not.toHaveProperty('submitted_by');
    });

    it('pending oldest first over several pages; a record waits from its first unreviewed revision', async () => {
      // Bob updates the oldest pending record: it keeps its place at the head of the queue.
      const oldest = pendingIds[0]!;
      await submit(stack, bob.key, [event(oldest, [SRC], { description: 'updated by bob' })]);
      const { items, pages } = await listAll(stack, stack.editorKey, 'status=pending', 4);
      expect(pages).toBe(4);
      expect(items.map((x) => x.id)).toEqual(await waitingOrder(stack, pendingIds));
      expect(items[0]).toMatchObject({ id: oldest, revision: 2, review_status: 'pending', approved_revision: null, submitted_by: bob.id });
      // Alice submitted a revision of it: she lists it too, redacted as GET shows it to her.
      expect((await listAll(stack, alice.key, 'status=pending', 2)).items.map((x) => x.id)).toContain(oldest);
    });

    it('status, kind and submitted_by filters; any = pending first, then the rest by id', async () => {
      const approved = ok(await list(stack, stack.editorKey, 'status=approved&limit=500'), ListRecordsResult);
      expect(approved.items.map((x) => x.id)).toEqual([...approvedIds].sort());
      expect(approved.next_cursor).toBeNull();
      const events = ok(await list(stack, stack.editorKey, 'kind=event'), ListRecordsResult);
      expect(events.items.map((x) => x.id)).toEqual(await waitingOrder(stack, pendingIds.filter((_, i) => i % 3 === 0)));
      const byAlice = await listAll(stack, stack.editorKey, `status=any&submitted_by=${alice.id}`, 3);
      expect(byAlice.items.map((x) => x.id)).toEqual(await waitingOrder(stack, pendingIds.filter((_, i) => i % 2 === 0)));
      const any = await listAll(stack, stack.editorKey, 'status=any', 5);
      expect(any.items.map((x) => x.id)).toEqual([...(await waitingOrder(stack, pendingIds)), ...[...approvedIds].sort()]);
      expect(ok(await list(stack, stack.editorKey, 'status=rejected'), ListRecordsResult)).toEqual({ items: [], next_cursor: null });
    });

    it('a malformed status, limit, kind, submitted_by or cursor, an unknown or repeated parameter → 400; submitted_by from a contributor → 403', async () => {
      const page = ok(await list(stack, stack.editorKey, 'limit=2'), ListRecordsResult);
      const bad = [
        'status=waiting',
        'status=',
        'limit=0',
        'limit=501',
        'limit=abc',
        'limit=1e2',
        'limit=-1',
        'limit=2.5',
        'kind=animal',
        'submitted_by=a%20b',
        'cursor=not-a-cursor',
        `cursor=${page.next_cursor}x`,
        'colour=red',
        'status=pending&status=approved',
        // A cursor of another query.
        `status=approved&cursor=${page.next_cursor}`,
      ];
      for (const q of bad) {
        const r = await list(stack, stack.editorKey, q);
        expectProblem(r, 400);
        expect(r.body.errors?.length, q).toBeGreaterThan(0);
      }
      expectProblem(await list(stack, alice.key, `submitted_by=${bob.id}`), 403, 'forbidden');
      expectProblem(await list(stack, alice.key, `submitted_by=${alice.id}`), 403, 'forbidden');
    });

    it("each item's patch turns the approved revision's stored content into the newest one's", async () => {
      const id = uid('src-patch');
      await submit(stack, stack.editorKey, [source(id, { title: 'first', tags: ['a', 'b'], restricted: { notes: 'n1' } })]);
      await submit(stack, alice.key, [source(id, { title: 'second', tags: ['b'], url: 'https://example.org/x', restricted: { notes: 'n2' } })]);
      const items = (await listAll(stack, stack.editorKey, 'status=pending', 500)).items;
      const heads = await stack.ctx.records.getHeads(items.map((x) => x.id));
      for (const item of items) {
        const head = await openHead(stack.ctx, heads.get(item.id)!);
        expect(applyPatch(head.approved ?? {}, item.patch), item.id).toEqual(head.content);
      }
      const item = items.find((x) => x.id === id)!;
      expect(item).toMatchObject({ revision: 2, approved_revision: 1, review_status: 'pending' });
      expect(item.patch).toEqual(expect.arrayContaining([{ op: 'replace', path: '/title', value: 'second' }, { op: 'replace', path: '/restricted/notes', value: 'n2' }]));
      // For alice, who sent the newest revision: the patch between the public forms (no /restricted
      // operation), which for a source is what GET shows her without the server fields.
      const hers = (await listAll(stack, alice.key, 'status=pending', 500)).items.find((x) => x.id === id)!;
      expect(hers.patch.some((op: Json) => op.path.startsWith('/restricted'))).toBe(false);
      const head = (await stack.ctx.records.getHead(id))!;
      expect(applyPatch(publicForm(head, head.approved), hers.patch)).toEqual(publicForm(head, head.content));
      const view = (await call(stack, 'GET', `/records/source/${id}`, { key: alice.key })).body;
      for (const [k, v] of Object.entries(publicForm(head, head.content))) expect(view[k], k).toEqual(v);
    });
  });

  describe('GET /records/{kind}/{id}/history', () => {
    it('editors: every revision with its patch from the one before (rebuilding each stored revision), every action oldest first', async () => {
      const id = uid('evt-hist');
      await submit(stack, alice.key, [event(id, [SRC], { description: 'one' })]);
      await submit(stack, bob.key, [event(id, [SRC], { description: 'two', killed: { best: 3 } })]);
      expect((await review(stack, editor2.key, 'event', id, { decision: 'reject', note: 'no source for the toll', revision: 2 })).status).toBe(200);
      await submit(stack, alice.key, [event(id, [SRC], { description: 'three', restricted: { witness: 'w' } })]);
      expect((await review(stack, stack.editorKey, 'event', id, { decision: 'approve', revision: 3 })).status).toBe(200);
      expect((await call(stack, 'POST', `/records/event/${id}/retract`, { key: stack.editorKey, json: { reason: 'duplicate' } })).status).toBe(200);

      expectProblem(await history(stack, undefined, 'event', id), 401, 'unauthorized');
      const h = ok(await history(stack, stack.editorKey, 'event', id), RecordHistory);

      const stored = await openRevisions(stack.ctx, await stack.ctx.records.listRevisions(id));
      expect(h.revisions.map((r) => [r.revision, r.submitted_by, r.review_status])).toEqual([
        [1, alice.id, 'pending'],
        [2, bob.id, 'rejected'],
        [3, alice.id, 'approved'],
      ]);
      let doc: Json = {};
      for (const [i, r] of h.revisions.entries()) {
        doc = applyPatch(doc, r.patch);
        expect(doc, `revision ${r.revision}`).toEqual(stored[i]!.content);
        expect(r.submitted_at).toBe(stored[i]!.submitted_at);
      }
      expect(h.actions).toEqual([
        { action: 'reject', revision: 2, by: editor2.id, at: expect.any(String), note: 'no source for the toll' },
        { action: 'approve', revision: 3, by: editorId, at: expect.any(String) },
        { action: 'retract', revision: 3, by: editorId, at: expect.any(String), note: 'duplicate' },
      ]);
      expect([...h.actions.map((a) => a.at)].sort()).toEqual(h.actions.map((a) => a.at));

      // Alice: only her revisions, each patch from her own previous one, without /restricted and without any editor's id.
      const mine = ok(await history(stack, alice.key, 'event', id), RecordHistory);
      expect(mine.revisions.map((r) => [r.revision, r.submitted_by])).toEqual([[1, alice.id], [3, alice.id]]);
      expect(mine.revisions[1]!.patch).toEqual([{ op: 'replace', path: '/description', value: 'three' }]);
      expect(mine.actions).toEqual([
        { action: 'approve', revision: 3, at: expect.any(String) },
        { action: 'retract', revision: 3, at: expect.any(String), note: 'duplicate' },
      ]);
      for (const other of [bob.id, editorId, editor2.id]) expect(JSON.stringify(mine)).not.toContain(other);
      // Bob sees his one revision and the rejection of it, with its note.
      const bobs = ok(await history(stack, bob.key, 'event', id), RecordHistory);
      expect(bobs.revisions.map((r) => r.revision)).toEqual([2]);
      expect(bobs.actions).toEqual([
        { action: 'reject', revision: 2, at: expect.any(String), note: 'no source for the toll' },
        { action: 'retract', revision: 3, at: expect.any(String), note: 'duplicate' },
      ]);
    });

    it('a contributor that never submitted a revision, a missing record and the wrong kind are the same 404', async () => {
      const carol = await keyFor(stack, 'contributor');
      expectProblem(await history(stack, carol.key, 'source', SRC), 404, 'not_found');
      expectProblem(await history(stack, carol.key, 'source', uid('src-none')), 404, 'not_found');
      expectProblem(await history(stack, stack.editorKey, 'event', SRC), 404, 'not_found');
    });
  });

  describe('reviews on the revision seen', () => {
    it('POST …/review with a stale revision → 409 revision_conflict and nothing changes; with the current one → 200', async () => {
      const id = uid('src-stale');
      await submit(stack, alice.key, [source(id)]);
      await submit(stack, bob.key, [source(id, { title: 'bob was here' })]);
      const before = await stack.ctx.records.getHead(id);

      const stale = await review(stack, stack.editorKey, 'source', id, { decision: 'approve', revision: 1 });

      expectProblem(stale, 409, 'revision_conflict');
      expect(stale.body.errors).toEqual([{ path: '/revision', code: 'revision_conflict', message: expect.any(String) }]);
      expect(await stack.ctx.records.getHead(id)).toEqual(before);
      expect(await stack.ctx.records.listAudit(id)).toEqual([]);
      expectProblem(await review(stack, alice.key, 'source', id, { decision: 'approve', revision: 2 }), 403, 'forbidden');
      expectProblem(await review(stack, stack.editorKey, 'source', id, { decision: 'approve', revision: 0 }), 400, 'invalid_body');
      const fresh = await review(stack, stack.editorKey, 'source', id, { decision: 'approve', revision: 2 });
      expect(fresh.status, fresh.text).toBe(200);
      expect(fresh.body).toMatchObject({ revision: 2, approved_revision: 2, review_status: 'approved', title: 'bob was here' });
      // Without a revision the decision applies to the newest, as before.
      expect((await review(stack, stack.editorKey, 'source', id, { decision: 'reject' })).status).toBe(200);
    });

    it('POST /reviews: each decision judged on its own; stale, missing, malformed and retracted ones fail while the others apply', async () => {
      const [a, b, c, gone] = [uid('src-bulk-a'), uid('src-bulk-b'), uid('src-bulk-c'), uid('src-bulk-gone')];
      await submit(stack, alice.key, [source(a), source(b), source(c), source(gone)]);
      await submit(stack, bob.key, [source(b, { title: 'newer' })]);
      expect((await call(stack, 'POST', `/records/source/${gone}/retract`, { key: stack.editorKey, json: { reason: 'x' } })).status).toBe(200);

      expectProblem(await reviews(stack, undefined, [{ kind: 'source', id: a, revision: 1, decision: 'approve' }]), 401, 'unauthorized');
      for (const who of [alice, bob]) expectProblem(await reviews(stack, who.key, [{ kind: 'source', id: a, revision: 1, decision: 'approve' }]), 403, 'forbidden');
      // The role before the body: a contributor learns nothing from the route but 403.
      expectProblem(await call(stack, 'POST', '/reviews', { key: alice.key, json: { nope: 1 } }), 403, 'forbidden');
      const r = await reviews(stack, stack.editorKey, [
        { kind: 'source', id: a, revision: 1, decision: 'approve', note: 'fine' },
        { kind: 'source', id: b, revision: 1, decision: 'approve' },
        { kind: 'source', id: c, revision: 1, decision: 'reject', note: 'no' },
        { kind: 'source', id: uid('src-none'), revision: 1, decision: 'approve' },
        { kind: 'event', id: a, revision: 1, decision: 'approve' },
        { kind: 'source', id: a, decision: 'approve' },
        { kind: 'source', id: gone, revision: 1, decision: 'approve' },
        'not a decision',
      ]);

      const body = ok(r, ReviewsResult);
      expect(body.results.map((x) => [x.index, x.status, x.errors?.[0]?.code, x.errors?.[0]?.path])).toEqual([
        [0, 'approved', undefined, undefined],
        [1, 'failed', 'revision_conflict', '/revision'],
        [2, 'rejected', undefined, undefined],
        [3, 'failed', 'not_found', '/id'],
        [4, 'failed', 'not_found', '/id'],
        [5, 'failed', 'required', '/revision'],
        [6, 'failed', 'record_retracted', '/id'],
        [7, 'failed', 'invalid_type', ''],
      ]);
      expect(await stack.ctx.records.getHead(a)).toMatchObject({ review_status: 'approved', approved_revision: 1 });
      expect(await stack.ctx.records.getHead(b)).toMatchObject({ review_status: 'pending', revision: 2 });
      expect(await stack.ctx.records.getHead(c)).toMatchObject({ review_status: 'rejected' });
      expect((await stack.ctx.records.listAudit(a)).map((x) => [x.action, x.note])).toEqual([['approve', 'fine']]);
      expect(await stack.ctx.records.listAudit(b)).toEqual([]);
    });

    it('POST /reviews: 1–100 decisions; two on one record apply in order', async () => {
      expectProblem(await reviews(stack, stack.editorKey, []), 400, 'invalid_body');
      const many = Array.from({ length: 101 }, () => ({ kind: 'source', id: SRC, revision: 1, decision: 'approve' }));
      expectProblem(await reviews(stack, stack.editorKey, many), 400, 'invalid_body');
      expectProblem(await call(stack, 'POST', '/reviews', { key: stack.editorKey, json: { decisions: [], dry_run: true } }), 400, 'invalid_body');
      const id = uid('src-twice');
      await submit(stack, alice.key, [source(id)]);
      const r = await reviews(stack, stack.editorKey, [
        { kind: 'source', id, revision: 1, decision: 'reject' },
        { kind: 'source', id, revision: 1, decision: 'approve' },
      ]);
      expect(ok(r, ReviewsResult).results.map((x) => x.status)).toEqual(['rejected', 'approved']);
      expect((await stack.ctx.records.listAudit(id)).map((x) => x.action)).toEqual(['reject', 'approve']);
    });

    it('an editor approves its own submissions with the single policy', async () => {
      const id = uid('src-own');
      expect((await submit(stack, editor2.key, [source(id)]))[0]).toMatchObject({ review_status: 'approved' });
      await submit(stack, editor2.key, [source(id, { title: 'again' })]);
      expect((await review(stack, editor2.key, 'source', id, { decision: 'approve', revision: 2 })).status).toBe(200);
    });
  });
});

describe('with four eyes (LEDGER_REVIEW_POLICY=four_eyes)', () => {
  let stack: TestStack;
  let editorA: Key;
  let editorB: Key;
  let alice: Key;
  const SRC = uid('src-4e');

  beforeAll(async () => {
    stack = await startTestStack({ reviewPolicy: 'four_eyes' });
    [editorA, editorB, alice] = await Promise.all([keyFor(stack, 'editor'), keyFor(stack, 'editor'), keyFor(stack, 'contributor')]);
    await submit(stack, editorA.key, [source(SRC)]);
    expect((await review(stack, editorB.key, 'source', SRC, { decision: 'approve', revision: 1 })).status).toBe(200);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("an editor's submission lands pending and waits in the queue", async () => {
    const id = uid('src-4e-pending');
    expect((await submit(stack, editorA.key, [source(id)]))[0]).toMatchObject({ status: 'created', review_status: 'pending' });
    const queue = ok(await list(stack, editorB.key, 'status=pending&limit=500'), ListRecordsResult);
    expect(queue.items.find((x) => x.id === id)).toMatchObject({ submitted_by: editorA.id, approved_revision: null });
  });

  it('nobody approves a revision it submitted: 403 self_review, alone and in bulk; another editor may', async () => {
    const id = uid('src-4e-self');
    await submit(stack, editorA.key, [source(id)]);

    expectProblem(await review(stack, editorA.key, 'source', id, { decision: 'approve', revision: 1 }), 403, 'self_review');
    expectProblem(await review(stack, editorA.key, 'source', id, { decision: 'approve' }), 403, 'self_review');
    const bulk = ok(await reviews(stack, editorA.key, [{ kind: 'source', id, revision: 1, decision: 'approve' }]), ReviewsResult);
    expect(bulk.results).toEqual([{ index: 0, id, status: 'failed', errors: [{ path: '/decision', code: 'self_review', message: expect.any(String) }] }]);
    const head = await stack.ctx.records.getHead(id);
    expect(head?.review_status).toBe('pending');
    expect(head?.approved_revision).toBeUndefined();
    expect(await stack.ctx.records.listAudit(id)).toEqual([]);

    const byB = await review(stack, editorB.key, 'source', id, { decision: 'approve', revision: 1 });
    expect(byB.status, byB.text).toBe(200);
    expect(byB.body).toMatchObject({ review_status: 'approved', approved_revision: 1 });
  });

  it("an editor may approve another key's newer revision of a record it wrote before, and reject its own", async () => {
    const id = uid('src-4e-mixed');
    await submit(stack, editorA.key, [source(id)]);
    await submit(stack, alice.key, [source(id, { title: 'alice' })]);
    expect((await review(stack, editorA.key, 'source', id, { decision: 'approve', revision: 2 })).status).toBe(200);
    await submit(stack, editorA.key, [source(id, { title: 'mine again' })]);
    expect((await review(stack, editorA.key, 'source', id, { decision: 'reject', revision: 3 })).status).toBe(200);
  });

  it('an editor may cite a record that is not approved yet (both wait); its approval waits for the cited one', async () => {
    const src = uid('src-4e-new');
    const evt = uid('evt-4e-new');
    await submit(stack, alice.key, [source(src)]);
    expect((await submit(stack, editorA.key, [event(evt, [src])]))[0]).toMatchObject({ status: 'created', review_status: 'pending' });

    expectProblem(await review(stack, editorB.key, 'event', evt, { decision: 'approve', revision: 1 }), 409, 'unapproved_reference');
    expect((await review(stack, editorB.key, 'source', src, { decision: 'approve', revision: 1 })).status).toBe(200);
    expect((await review(stack, editorB.key, 'event', evt, { decision: 'approve', revision: 1 })).status).toBe(200);
  });

  it('the queue, the history and the bulk route keep their rules: contributors see their own records, editors everything', async () => {
    const mine = uid('src-4e-alice');
    const editors = uid('src-4e-editor');
    await submit(stack, alice.key, [source(mine)]);
    await submit(stack, editorA.key, [source(editors)]);
    const aliceQueue = ok(await list(stack, alice.key, 'status=any&limit=500'), ListRecordsResult);
    expect(aliceQueue.items.map((x) => x.id)).toContain(mine);
    expect(aliceQueue.items.map((x) => x.id)).not.toContain(editors);
    expect(JSON.stringify(aliceQueue)).not.toContain(editorA.id);
    const queue = ok(await list(stack, editorA.key, 'status=pending&limit=500'), ListRecordsResult);
    expect(queue.items.map((x) => x.id)).toEqual(expect.arrayContaining([mine, editors]));
    expectProblem(await history(stack, alice.key, 'source', editors), 404, 'not_found');
    expectProblem(await reviews(stack, alice.key, [{ kind: 'source', id: mine, revision: 1, decision: 'approve' }]), 403, 'forbidden');
    const bulk = ok(
      await reviews(stack, editorA.key, [
        { kind: 'source', id: mine, revision: 1, decision: 'approve' },
        { kind: 'source', id: editors, revision: 1, decision: 'approve' },
      ]),
      ReviewsResult,
    );
    expect(bulk.results.map((x) => [x.status, x.errors?.[0]?.code])).toEqual([['approved', undefined], ['failed', 'self_review']]);
    const h = ok(await history(stack, editorB.key, 'source', mine), RecordHistory);
    expect(h.actions).toEqual([{ action: 'approve', revision: 1, by: editorA.id, at: expect.any(String) }]);
  });

  it("what is published went through two keys: a release holds only records approved by another key than the submitter's", async () => {
    const c = uid('clm-4e');
    await submit(stack, editorB.key, [claim(c, [SRC])]);
    expect((await review(stack, editorA.key, 'claim', c, { decision: 'approve', revision: 1 })).status).toBe(200);
    const r = await call(stack, 'POST', '/publish', { key: editorA.key });
    expect(r.status, r.text).toBe(200);
    const published = await stack.ctx.changes.firstPublished([(await stack.ctx.records.getHead(c))!, (await stack.ctx.records.getHead(SRC))!]);
    expect([...published.keys()].sort()).toEqual([c, SRC].sort());
    for (const id of [c, SRC]) {
      const [rev] = await stack.ctx.records.listRevisions(id);
      const approvals = (await stack.ctx.records.listAudit(id)).filter((x) => x.action === 'approve');
      expect(approvals.length).toBeGreaterThan(0);
      for (const a of approvals) expect(a.by).not.toBe(rev!.submitted_by);
    }
  });
});

/** The public (redacted) form of a revision's content, as the contributor's patches run between. */
function publicForm(head: { kind: RecordKind; id: string }, content: unknown): Json {
  return content ? redactContent(head.kind, head.id, content as Json) : {};
}
