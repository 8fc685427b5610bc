// What the editorial routes (GET /records, history, reviews) tell a contributor, through the real handlers
// and DynamoDB Local: never a restricted value, a withheld name or another key's id (canaries planted in
// every such field), and nothing that depends on content it cannot read (a right and a wrong guess of a
// record's secrets are answered alike).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../pipeline/canonical.ts';
import { openHead } from '../support/sealed.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';
import { person, source, uid, type Json, type Rec } from '../support/release.ts';

type Res = Awaited<ReturnType<typeof call>>;
type Key = { key: string; id: string };

let stack: TestStack;
let editorId: string;
const SRC = uid('src-priv');

async function keyFor(role: 'contributor' | 'editor'): Promise<Key> {
  const r = await call(stack, 'POST', '/keys', { key: stack.editorKey, json: { role, name: uid(role) } });
  expect(r.status, r.text).toBe(201);
  return { key: r.body.key, id: r.body.key_id };
}

const submit = async (key: string, records: Rec[]): Promise<Json[]> => {
  const r = await call(stack, 'POST', '/records', { key, json: { records } });
  expect(r.status, r.text).toBe(200);
  expect(r.body.rejected, r.text).toBe(0);
  return r.body.results;
};

const canaries: string[] = [];
const canary = (what: string) => {
  const c = `canary-${what}-${randomBytes(8).toString('hex')}`;
  canaries.push(c);
  return c;
};

/** A person whose name is withheld and who may be alive, with a canary in every field a contributor must not get back. */
const secretPerson = (id: string, who: string): Rec =>
  person(id, [SRC], {
    name: canary(`${who}-name`),
    name_fa: canary(`${who}-namefa`),
    name_disclosure: 'withheld',
    facility: canary(`${who}-facility`),
    age: 33,
    location: { admin1: 'Tehran', admin2: canary(`${who}-admin2`), place: canary(`${who}-place`), latitude: 35.79, longitude: 51.39, geo_precision: 'exact' },
    restricted: { submitter_contact: canary(`${who}-contact`), witness: canary(`${who}-witness`), notes: canary(`${who}-notes`) },
  });

beforeAll(async () => {
  stack = await startTestStack();
  editorId = (await stack.ctx.keys.getKeyByHash(sha256Hex(stack.editorKey)))!.key_id;
  await submit(stack.editorKey, [source(SRC)]);
});
afterAll(async () => {
  await stack?.close();
});

/** Every page of a listing as `key`, following cursors; all responses are kept for the assertions. */
async function pages(key: string, query: string, seen: Res[]): Promise<Json[]> {
  const items: Json[] = [];
  let cursor: string | null = null;
  do {
    const r = await call(stack, 'GET', `/records?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { key });
    expect(r.status, r.text).toBe(200);
    seen.push(r);
    items.push(...r.body.items);
    cursor = r.body.next_cursor;
  } while (cursor);
  return items;
}

describe('canaries: a contributor never gets a restricted value, a withheld name or another key id', () => {
  it('from the listing, the history or the review routes, whatever state the records are in', async () => {
    const [mallory, bob, editor2] = [await keyFor('contributor'), await keyFor('contributor'), await keyFor('editor')];
    const [p1, p2, p3, p4, gone] = [uid('per-c1'), uid('per-c2'), uid('per-c3'), uid('per-c4'), uid('per-cgone')];
    // p1: the editor's secret (approved), mallory's junk, then bob's secret (pending).
    await submit(stack.editorKey, [secretPerson(p1, 'editor')]);
    await submit(mallory.key, [person(p1, [SRC], { fate: 'unknown' })]);
    await submit(bob.key, [secretPerson(p1, 'bob')]);
    // p2: mallory's own first revision, with her own restricted notes, then the editor's secret (approved) and a rejection by editor2.
    const own = canary('mallory-own-restricted');
    await submit(mallory.key, [person(p2, [SRC], { fate: 'unknown', restricted: { notes: own } })]);
    await submit(stack.editorKey, [secretPerson(p2, 'editor2')]);
    await submit(bob.key, [secretPerson(p2, 'bob2')]);
    expect((await call(stack, 'POST', `/records/person/${p2}/review`, { key: editor2.key, json: { decision: 'reject', note: 'unsourced', revision: 3 } })).status).toBe(200);
    // p3: mallory's revision approved by editor2, then the editor's secret approved over it.
    await submit(mallory.key, [person(p3, [SRC], { fate: 'detained' })]);
    expect((await call(stack, 'POST', `/records/person/${p3}/review`, { key: editor2.key, json: { decision: 'approve' } })).status).toBe(200);
    await submit(stack.editorKey, [secretPerson(p3, 'editor3')]);
    // p4: mallory's alone, with her own restricted notes: she reads it as sent, without them.
    await submit(mallory.key, [person(p4, [SRC], { fate: 'unknown', restricted: { notes: canary('mallory-own-p4') } })]);
    // gone: mallory's, overwritten by a secret, retracted.
    await submit(mallory.key, [person(gone, [SRC], { fate: 'unknown' })]);
    await submit(stack.editorKey, [secretPerson(gone, 'editor4')]);
    expect((await call(stack, 'POST', `/records/person/${gone}/retract`, { key: stack.editorKey, json: { reason: 'withdrawn' } })).status).toBe(200);
    // The canaries are really there: the editor gets them.
    const editorView = await call(stack, 'GET', `/records?status=any&limit=500`, { key: stack.editorKey });
    expect(editorView.text).toContain(canaries.find((c) => c.includes('bob-witness'))!);

    const seen: Res[] = [];
    const as = async (method: string, path: string, json?: unknown) => {
      const r = await call(stack, method, path, { key: mallory.key, ...(json === undefined ? {} : { json }) });
      expect(r.status, `${method} ${path}: ${r.text}`).toBeLessThan(500);
      seen.push(r);
      return r;
    };
    for (const status of ['pending', 'approved', 'rejected', 'retracted', 'any']) {
      for (const limit of [1, 500]) await pages(mallory.key, `status=${status}&limit=${limit}`, seen);
      await pages(mallory.key, `status=${status}&kind=person`, seen);
    }
    const listed = await pages(mallory.key, 'status=any', seen);
    expect(listed.map((x) => x.id).sort()).toEqual([p1, p2, p3, p4, gone].sort());
    for (const id of [p1, p2, p3, p4, gone]) {
      expect((await as('GET', `/records/person/${id}/history`)).status).toBe(200);
      expect((await as('GET', `/records/person/${id}`)).status).toBe(200);
    }
    expect((await as('GET', `/records?submitted_by=${bob.id}`)).status).toBe(403);
    expect((await as('POST', '/reviews', { decisions: [{ kind: 'person', id: p1, revision: 3, decision: 'approve' }] })).status).toBe(403);
    expect((await as('POST', `/records/person/${p1}/review`, { decision: 'approve', revision: 3 })).status).toBe(403);

    // Mallory sent one restricted note herself (p2), the rest never: none comes back, nor any other key's id.
    for (const r of seen) {
      for (const c of canaries) expect(r.text, `a response carries ${c}`).not.toContain(c);
      for (const other of [editorId, editor2.id, bob.id]) expect(r.text, `a response carries the key id ${other}`).not.toContain(other);
      expect(r.text).not.toContain('/restricted');
    }
    // What she does get: her own revisions, the review of them, the retraction.
    const h2 = (await call(stack, 'GET', `/records/person/${p2}/history`, { key: mallory.key })).body;
    expect(h2.revisions.map((r: Json) => r.revision)).toEqual([1]);
    expect(h2.actions).toEqual([]);
    const h3 = (await call(stack, 'GET', `/records/person/${p3}/history`, { key: mallory.key })).body;
    expect(h3.actions).toEqual([{ action: 'approve', revision: 1, at: expect.any(String) }]);
  });
});

describe('no oracle: a right and a wrong guess of the secrets get the same answers in the editorial routes', () => {
  /** A response with what differs by construction taken out: the ids, and the times of the writes. */
  const normal = (value: unknown, ids: string[]) => {
    let text = JSON.stringify(value);
    for (const id of ids) text = text.replaceAll(id, '<id>');
    return JSON.parse(text, (k, v) => (k === 'updated_at' || k === 'submitted_at' ? '<t>' : v));
  };
  const valueAt = (doc: Json, pointer: string): unknown => pointer.split('/').slice(1).reduce((v: Json, k) => (v === undefined ? undefined : v[k.replaceAll('~1', '/').replaceAll('~0', '~')]), doc);

  it('while the guess is the newest revision (its own), and after the editor wrote over both', async () => {
    const mallory = await keyFor('contributor');
    const [right, wrong] = [uid('per-right'), uid('per-wrong')];
    const stored = { right: secretPerson(right, 'right'), wrong: secretPerson(wrong, 'wrong') };
    await submit(stack.editorKey, [stored.right, stored.wrong]);
    // Both guesses change a public field; the right one is otherwise an exact copy of the stored record,
    // the wrong one differs in a withheld name and the restricted notes too.
    const guesses = { right: { ...stored.right, gender: 'female' }, wrong: { ...stored.wrong, gender: 'female', name: `${stored.wrong.name as string}x`, restricted: { notes: 'a guess' } } };
    expect((await submit(mallory.key, [guesses.right, guesses.wrong])).map((x) => x.status)).toEqual(['updated', 'updated']);

    const item = async (id: string) => (await pages(mallory.key, 'status=any', [])).find((x) => x.id === id)!;
    const [a, b] = [await item(right), await item(wrong)];
    // Same operations at the same paths (the public field she changed), and every value one she sent herself.
    expect(a.patch).toEqual([{ op: 'replace', path: '/gender', value: 'female' }]);
    expect(a.patch.map((op: Json) => [op.op, op.path])).toEqual(b.patch.map((op: Json) => [op.op, op.path]));
    for (const [x, guess] of [[a, guesses.right], [b, guesses.wrong]] as const) {
      for (const op of x.patch) if (op.op !== 'remove') expect(op.value, op.path).toEqual(valueAt(guess, op.path));
    }
    expect(normal({ ...a, patch: a.patch.map((op: Json) => [op.op, op.path]) }, [right, wrong])).toEqual(normal({ ...b, patch: b.patch.map((op: Json) => [op.op, op.path]) }, [right, wrong]));
    const [ha, hb] = [
      (await call(stack, 'GET', `/records/person/${right}/history`, { key: mallory.key })).body,
      (await call(stack, 'GET', `/records/person/${wrong}/history`, { key: mallory.key })).body,
    ];
    const shape = (h: Json) => ({ ...h, revisions: h.revisions.map((r: Json) => ({ ...r, patch: r.patch.map((op: Json) => [op.op, op.path]) })) });
    expect(normal(shape(ha), [right, wrong])).toEqual(normal(shape(hb), [right, wrong]));

    // The editor writes its secrets over both again (approved): mallory's view of either is the public one.
    expect((await submit(stack.editorKey, [{ ...stored.right, age: 34 }, { ...stored.wrong, age: 34 }])).map((x) => x.status)).toEqual(['updated', 'updated']);
    const [c, d] = [await item(right), await item(wrong)];
    expect(c.patch).toEqual([]);
    expect(normal(c, [right, wrong])).toEqual(normal(d, [right, wrong]));
    // Guesses with a wrong expected_revision write nothing: she lists neither record, and both histories are the same 404.
    const [right2, wrong2] = [uid('per-right2'), uid('per-wrong2')];
    await submit(stack.editorKey, [secretPerson(right2, 'right2'), secretPerson(wrong2, 'wrong2')]);
    const stored2 = await stack.ctx.records.getHeads([right2, wrong2]);
    const [open2r, open2w] = [await openHead(stack.ctx, stored2.get(right2)!), await openHead(stack.ctx, stored2.get(wrong2)!)];
    const guess2 = { right: { ...open2r.content, expected_revision: 7 }, wrong: { ...open2w.content, name: 'x', expected_revision: 7 } };
    const refused = await call(stack, 'POST', '/records', { key: mallory.key, json: { records: [guess2.right, guess2.wrong] } });
    expect(refused.body.results.map((x: Json) => x.errors?.[0]?.code)).toEqual(['revision_conflict', 'revision_conflict']);
    expect((await pages(mallory.key, 'status=any', [])).map((x) => x.id).filter((id) => id === right2 || id === wrong2)).toEqual([]);
    const [h404a, h404b] = [await call(stack, 'GET', `/records/person/${right2}/history`, { key: mallory.key }), await call(stack, 'GET', `/records/person/${wrong2}/history`, { key: mallory.key })];
    expect(h404a.status).toBe(404);
    expect(normal(h404a.body, [right2, wrong2])).toEqual(normal(h404b.body, [right2, wrong2]));

    // Not even the withheld names and exact places she sent herself come back.
    for (const x of [a, b, c, d, ha, hb]) for (const s of canaries.filter((k) => k.includes('-right-') || k.includes('-wrong-'))) expect(JSON.stringify(x)).not.toContain(s);
  });
});
