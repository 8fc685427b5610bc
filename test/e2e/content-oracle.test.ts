// A contributor learns nothing from a submission about content it cannot read (API.md, POST /records):
// through the real handlers and DynamoDB Local, a guess of a record's withheld names and restricted text
// gets the same answer whether it is right or wrong, and no route answers it with a stored secret.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../pipeline/canonical.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';
import { event, person, source, uid, type Json, type Rec } from '../support/release.ts';

type Res = Awaited<ReturnType<typeof call>>;

let stack: TestStack;
let editorKeyId: string;
const SRC = uid('src-oracle');

async function newContributor(): Promise<{ key: string; id: string }> {
  const r = await call(stack, 'POST', '/keys', { key: stack.editorKey, json: { role: 'contributor', name: uid('contributor') } });
  expect(r.status, r.text).toBe(201);
  return { key: r.body.key, id: r.body.key_id };
}

const submit = (key: string, records: unknown[]) => call(stack, 'POST', '/records', { key, json: { records } });
const revisions = (id: string) => stack.ctx.records.listRevisions(id);

/** A person whose name is withheld and who may be alive: everything a contributor must not learn. */
const secretPerson = (id: string, secret = randomBytes(6).toString('hex')): Rec =>
  person(id, [SRC], {
    name: `Name ${secret}`,
    name_fa: `نام ${secret}`,
    name_disclosure: 'withheld',
    location: { admin1: 'Tehran', admin2: 'Tehran', place: `Ward ${secret}`, latitude: 35.79, longitude: 51.39, geo_precision: 'exact' },
    restricted: { submitter_contact: `signal ${secret}`, witness: `witness ${secret}`, notes: `notes ${secret}` },
  });
/** The same record with one withheld letter wrong. */
const wrongGuess = (rec: Rec): Rec => ({ ...rec, name: `${rec.name as string}x` });

/**
 * A response with what legitimately differs between two records taken out: their ids (the submitter's
 * own input) and revision numbers. What is left must not depend on the stored content.
 */
function normalised(r: Res, ids: string[]): Json {
  let text = r.text;
  for (const id of ids) text = text.replaceAll(id, '<id>');
  return { status: r.status, body: JSON.parse(text, (k, v) => (k === 'revision' && typeof v === 'number' ? '<n>' : v)) };
}

beforeAll(async () => {
  stack = await startTestStack();
  editorKeyId = (await stack.ctx.keys.getKeyByHash(sha256Hex(stack.editorKey)))!.key_id;
  const r = await submit(stack.editorKey, [source(SRC)]);
  expect(r.body?.accepted, r.text).toBe(1);
});
afterAll(async () => {
  await stack?.close();
});

describe('a contributor that never submitted a revision cannot confirm a guess of the content', () => {
  // (a) no expected_revision, (c) the stored revision, (d) a wrong one.
  const cases: Array<{ name: string; expected?: number; written: boolean }> = [
    { name: 'without expected_revision', written: true },
    { name: 'with expected_revision equal to the stored revision', expected: 1, written: true },
    { name: 'with a wrong expected_revision', expected: 7, written: false },
  ];
  for (const { name, expected, written } of cases) {
    it(`${name}: the right and the wrong guess get the same answer, never unchanged`, async () => {
      // Prepare: two records with the same history, both the editor's; one guess right, one wrong.
      const right = uid('per-right');
      const wrong = uid('per-wrong');
      const stored = { right: secretPerson(right), wrong: secretPerson(wrong) };
      expect((await submit(stack.editorKey, [stored.right, stored.wrong])).body.accepted).toBe(2);
      const mallory = await newContributor();
      const extra = expected === undefined ? {} : { expected_revision: expected };

      // Act
      const a = await submit(mallory.key, [{ ...stored.right, ...extra }]);
      const b = await submit(mallory.key, [{ ...wrongGuess(stored.wrong), ...extra }]);

      // Assess: identical answers, whatever the content.
      expect(normalised(a, [right, wrong]), a.text).toEqual(normalised(b, [right, wrong]));
      expect(a.text).not.toContain('unchanged');
      const result = a.body.results[0];
      if (written) {
        expect(result).toEqual({ index: 0, id: right, kind: 'person', status: 'updated', revision: 2, review_status: 'pending' });
      } else {
        expect(result).toMatchObject({ index: 0, id: right, status: 'rejected', errors: [{ path: '/expected_revision', code: 'revision_conflict' }] });
      }
      for (const id of [right, wrong]) {
        // Read back as the editor: one new pending revision (or none), the approved one still the editor's.
        const view = await call(stack, 'GET', `/records/person/${id}`, { key: stack.editorKey });
        expect(view.body).toMatchObject({ revision: written ? 2 : 1, approved_revision: 1, review_status: written ? 'pending' : 'approved', submitted_by: written ? mallory.id : editorKeyId });
        const revs = await revisions(id);
        expect(revs.map((r) => [r.revision, r.submitted_by, r.review_status])).toEqual(
          written ? [[1, editorKeyId, 'approved'], [2, mallory.id, 'pending']] : [[1, editorKeyId, 'approved']],
        );
        const head = await stack.ctx.records.getHead(id);
        expect(head!.approved).toEqual(revs[0]!.content);
      }
    });
  }

  it('the same holds in one batch, and for a record another contributor wrote (pending, never approved)', async () => {
    const alice = await newContributor();
    const mallory = await newContributor();
    const right = uid('per-right');
    const wrong = uid('per-wrong');
    const stored = { right: secretPerson(right), wrong: secretPerson(wrong) };
    expect((await submit(alice.key, [stored.right, stored.wrong])).body.results.map((x: Json) => x.review_status)).toEqual(['pending', 'pending']);

    const r = await submit(mallory.key, [stored.right, wrongGuess(stored.wrong)]);

    expect(r.status).toBe(200);
    const [a, b] = r.body.results as Json[];
    expect({ ...a, id: '<id>', index: '<i>' }).toEqual({ ...b, id: '<id>', index: '<i>' });
    expect(a).toMatchObject({ status: 'updated', revision: 2, review_status: 'pending' });
    for (const id of [right, wrong]) expect((await revisions(id)).map((x) => x.submitted_by)).toEqual([alice.id, mallory.id]);
  });
});

describe('idempotent retries stay unchanged for whoever may read the content', () => {
  it("a contributor's retry of its own identical submission is unchanged and writes nothing", async () => {
    const id = uid('per-retry');
    const stored = secretPerson(id);
    expect((await submit(stack.editorKey, [stored])).body.accepted).toBe(1);
    const mallory = await newContributor();
    expect((await submit(mallory.key, [stored])).body.results[0]).toMatchObject({ status: 'updated', revision: 2 });

    const retry = await submit(mallory.key, [stored]);
    // A retried update with its now stale expected_revision is no conflict either: the content is its own.
    const staleRetry = await submit(mallory.key, [{ ...stored, expected_revision: 1 }]);

    expect(retry.body.results[0]).toEqual({ index: 0, id, kind: 'person', status: 'unchanged', revision: 2, review_status: 'pending' });
    expect(staleRetry.body.results[0]).toEqual({ index: 0, id, kind: 'person', status: 'unchanged', revision: 2, review_status: 'pending' });
    expect(await revisions(id)).toHaveLength(2);
  });

  it('having submitted an earlier revision does not make a later one by someone else comparable', async () => {
    const id = uid('per-superseded');
    const mallory = await newContributor();
    const mine = person(id, [SRC], { fate: 'unknown' });
    expect((await submit(mallory.key, [mine])).body.results[0]).toMatchObject({ status: 'created' });
    const secret = secretPerson(id);
    expect((await submit(stack.editorKey, [secret])).body.results[0]).toMatchObject({ status: 'updated', revision: 2 });

    const right = await submit(mallory.key, [secret]);

    expect(right.body.results[0]).toEqual({ index: 0, id, kind: 'person', status: 'updated', revision: 3, review_status: 'pending' });
    expect(await revisions(id)).toHaveLength(3);
  });

  it('5 concurrent identical batches from a fresh contributor → exactly one new revision per record', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => uid(`per-conc${i}`));
    const stored = ids.map((id) => secretPerson(id));
    expect((await submit(stack.editorKey, stored)).body.accepted).toBe(12);
    const fresh = await newContributor();
    // Half exact copies, half wrong guesses: both must behave alike.
    const batch = stored.map((rec, i) => (i % 2 === 0 ? rec : wrongGuess(rec)));

    const responses = await Promise.all(Array.from({ length: 5 }, () => submit(fresh.key, batch)));

    for (const r of responses) {
      expect(r.status, r.text).toBe(200);
      expect(r.body.rejected, r.text).toBe(0);
    }
    for (const [i, id] of ids.entries()) {
      expect((await revisions(id)).map((x) => x.submitted_by), id).toEqual([editorKeyId, fresh.id]);
      expect(responses.map((r) => r.body.results[i].status).sort(), id).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged', 'updated']);
      for (const r of responses) expect(r.body.results[i]).toMatchObject({ revision: 2, review_status: 'pending' });
    }
    const heads = await stack.ctx.records.getHeads(ids);
    for (const h of heads.values()) expect(h).toMatchObject({ revision: 2, version: 2, submitters: [editorKeyId, fresh.id] });
  });

  it("an editor's identical resubmission is unchanged", async () => {
    const id = uid('per-editor');
    const stored = secretPerson(id);
    expect((await submit(stack.editorKey, [stored])).body.results[0]).toMatchObject({ status: 'created' });
    expect((await submit(stack.editorKey, [stored])).body.results[0]).toEqual({ index: 0, id, kind: 'person', status: 'unchanged', revision: 1, review_status: 'approved' });
    // Also after a contributor wrote a revision: the editor reads everything, so it may compare.
    const mallory = await newContributor();
    expect((await submit(mallory.key, [wrongGuess(stored)])).body.results[0]).toMatchObject({ status: 'updated', revision: 2 });

    const again = await submit(stack.editorKey, [wrongGuess(stored)]);

    expect(again.body.results[0]).toEqual({ index: 0, id, kind: 'person', status: 'unchanged', revision: 2, review_status: 'pending' });
    expect(await revisions(id)).toHaveLength(2);
  });
});

describe('canaries: no answer to a contributor carries a restricted value or a withheld name', () => {
  it('whatever routes it tries', async () => {
    // Prepare: unique canaries in every restricted field, the withheld names and the exact place.
    const canary = (what: string) => `canary-${what}-${randomBytes(8).toString('hex')}`;
    const canaries: string[] = [];
    const planted = (id: string, extra: Rec = {}): Rec => {
      const c = { name: canary('name'), name_fa: canary('namefa'), place: canary('place'), contact: canary('contact'), witness: canary('witness'), notes: canary('notes') };
      canaries.push(...Object.values(c));
      return person(id, [SRC], {
        name: c.name,
        name_fa: c.name_fa,
        name_disclosure: 'withheld',
        location: { admin1: 'Tehran', place: c.place, geo_precision: 'neighbourhood' },
        restricted: { submitter_contact: c.contact, witness: c.witness, notes: c.notes },
        ...extra,
      });
    };
    const restrictedOnly = (rec: Rec): Rec => {
      const r = { submitter_contact: canary('contact'), witness: canary('witness'), notes: canary('notes') };
      canaries.push(...Object.values(r));
      return { ...rec, restricted: r };
    };
    const p = uid('per-canary');
    const q = uid('per-canary-copied');
    const gone = uid('per-canary-retracted');
    const srcGone = uid('src-canary-retracted');
    const evt = uid('evt-canary');
    const secret = { p: planted(p), q: planted(q), gone: planted(gone) };
    const stored = [restrictedOnly(source(srcGone)), restrictedOnly(event(evt, [SRC])), secret.p, secret.q, secret.gone];
    expect((await submit(stack.editorKey, stored)).body.accepted).toBe(5);
    for (const [kind, id] of [['person', gone], ['source', srcGone]]) {
      expect((await call(stack, 'POST', `/records/${kind}/${id}/retract`, { key: stack.editorKey, json: { reason: 'withdrawn' } })).status).toBe(200);
    }
    // The editor sees them all: the canaries are really there.
    const editorView = (await call(stack, 'GET', `/records/person/${p}`, { key: stack.editorKey })).text;
    expect(editorView).toContain(secret.p.name as string);
    expect(editorView).toContain((secret.p.restricted as Rec).witness as string);

    const mallory = await newContributor();
    const seen: Res[] = [];
    const as = async (method: string, path: string, json?: unknown) => {
      const r = await call(stack, method, path, { key: mallory.key, ...(json === undefined ? {} : { json }) });
      expect(r.status, `${method} ${path}: ${r.text}`).toBeLessThan(500);
      seen.push(r);
      return r;
    };

    // Act: every route a contributor can reach.
    expect((await as('GET', `/records/person/${p}`)).status).toBe(404);
    expect((await as('GET', `/records/person/${gone}`)).status).toBe(404);
    expect((await as('GET', `/records/event/${evt}`)).status).toBe(404);
    // Guesses: right (q: its content is then mallory's own) and wrong, with and without expected_revision.
    await as('POST', '/records', { records: [secret.q] });
    await as('POST', '/records', { records: [wrongGuess(secret.p)] });
    await as('POST', '/records', { records: [{ ...wrongGuess(secret.p), expected_revision: 1 }] });
    await as('POST', '/records', { records: [{ ...person(p, [SRC]), expected_revision: 9 }] });
    // id_taken, record_retracted, unknown_reference (wrong kind, retracted, unknown), duplicate_id.
    const dup = uid('src-dup');
    const taken = await as('POST', '/records', {
      records: [
        source(p),
        source(evt),
        person(gone, [SRC]),
        source(srcGone),
        event(uid('evt-m1'), [p]),
        event(uid('evt-m2'), [srcGone]),
        event(uid('evt-m3'), [uid('src-none')]),
        person(uid('per-m4'), [SRC], { event_ids: [evt, gone] }),
        source(dup, { title: 'a' }),
        source(dup, { title: 'b' }),
      ],
    });
    expect(taken.body.results.map((x: Json) => x.errors?.[0]?.code)).toEqual([
      'id_taken',
      'id_taken',
      'record_retracted',
      'record_retracted',
      'unknown_reference',
      'unknown_reference',
      'unknown_reference',
      'unknown_reference',
      'duplicate_id',
      'duplicate_id',
    ]);
    // The editor writes over both records again (q twice, ending on the content mallory sent); mallory, a
    // submitter of an older revision, reads them, and guesses q again.
    expect((await submit(stack.editorKey, [secret.p, { ...secret.q, age: 30 }])).body.results.map((x: Json) => x.status)).toEqual(['updated', 'updated']);
    expect((await submit(stack.editorKey, [secret.q])).body.results[0]).toMatchObject({ status: 'updated', revision: 4 });
    expect((await as('GET', `/records/person/${p}`)).body).toMatchObject({ name: null, name_fa: null, revision: 3 });
    expect((await as('GET', `/records/person/${q}`)).body).toMatchObject({ name: null, name_fa: null, revision: 4 });
    expect((await as('POST', '/records', { records: [secret.q] })).body.results[0]).toMatchObject({ status: 'updated', revision: 5 });
    await as('GET', `/records/source/${p}`);
    await as('GET', `/records/person/${gone}/history`);
    await as('GET', `/records/person/${p}/history`);
    await as('GET', '/records?status=any');
    await as('POST', `/records/person/${p}/review`, { decision: 'approve' });
    await as('POST', `/records/person/${gone}/retract`, { reason: 'mine' });
    await as('POST', '/reviews', { decisions: [{ kind: 'person', id: p, revision: 3, decision: 'approve' }] });
    await as('POST', '/publish', {});
    await as('GET', '/publish/status');
    await as('POST', '/keys', { role: 'editor', name: 'escalate' });
    await as('POST', `/keys/${editorKeyId}/disable`);
    await as('GET', '/openapi.json');
    await as('GET', '/');

    // Assess: mallory sent q's canaries itself in its first guess, but was never answered with them
    // since; p's and the others' it never sent.
    for (const r of seen) for (const c of canaries) expect(r.text, `a response carries ${c}`).not.toContain(c);
  });
});
