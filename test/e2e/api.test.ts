// The HTTP API of API.md, end to end: real handlers behind the local server, on DynamoDB Local and the
// local S3 server. No mocks. POST /publish is out of scope here (tested with the publisher).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logger } from '../../functions/logger.ts';
import { openApiDocument } from '../../functions/openapi.ts';
import { sha256Hex } from '../../pipeline/canonical.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';
import { claim, event, person, source, type Rec } from '../support/release.ts';

type Res = Awaited<ReturnType<typeof call>>;

let stack: TestStack;
/** Two contributors (keys made through POST /keys) and their key ids. */
let alice: { key: string; id: string };
let bob: { key: string; id: string };
let editorKeyId: string;

/** Every response body goes through here: none may ever carry a stack trace or a server file path. */
function noStack(r: Res): void {
  expect(r.text).not.toMatch(/\bat\s+\S*\s*\(?(?:file:\/\/|node:|\/)[^\s)]*:\d+/);
  expect(r.text).not.toMatch(/\.(?:ts|js|mjs):\d+/);
  expect(r.text).not.toMatch(/\/work\/|node_modules|node:internal/);
}

async function req(method: string, path: string, opts: Parameters<typeof call>[3] = {}): Promise<Res> {
  const r = await call(stack, method, path, opts);
  noStack(r);
  expect(r.status).not.toBe(500);
  return r;
}

/** An RFC 9457 problem document with this status (and code, when given). */
function expectProblem(r: Res, status: number, code?: string): void {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  if (code !== undefined) expect(r.body.code).toBe(code);
  noStack(r);
}

const uid = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}`;

// Record builders are shared with the publish tests (test/support/release.ts).

const submit = (key: string, records: unknown[]) => req('POST', '/records', { key, json: { records } });
const submitRaw = (key: string, body: string | Uint8Array, contentType = 'application/json') => req('POST', '/records', { key, body, contentType });
const ndjson = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
const getRecord = (kind: string, id: string, key = stack.editorKey) => req('GET', `/records/${kind}/${id}`, { key });

async function expectAbsent(kind: string, id: string): Promise<void> {
  const r = await getRecord(kind, id);
  expectProblem(r, 404, 'not_found');
  expect(await stack.ctx.records.getHead(id)).toBeUndefined();
}

/** The 200 batch answer, checked for shape and counts. */
function batch(r: Res): { accepted: number; rejected: number; results: any[] } {
  expect(r.status, r.text).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  const { accepted, rejected, results } = r.body;
  expect(results.map((x: any) => x.index)).toEqual(results.map((_: unknown, i: number) => i));
  expect(accepted).toBe(results.filter((x: any) => x.status !== 'rejected').length);
  expect(rejected).toBe(results.filter((x: any) => x.status === 'rejected').length);
  return r.body;
}

/** A rejected result carrying an error with this path and code. */
function expectRejected(result: any, path: string, code: string): void {
  expect(result.status, JSON.stringify(result)).toBe('rejected');
  expect(result.errors, JSON.stringify(result)).toEqual(expect.arrayContaining([expect.objectContaining({ path, code, message: expect.any(String) })]));
}

async function newKey(role: 'contributor' | 'editor', name = `${role} ${uid('k')}`): Promise<{ key: string; id: string }> {
  const r = await req('POST', '/keys', { key: stack.editorKey, json: { role, name } });
  expect(r.status, r.text).toBe(201);
  return { key: r.body.key, id: r.body.key_id };
}

beforeAll(async () => {
  stack = await startTestStack();
  alice = await newKey('contributor', 'alice');
  bob = await newKey('contributor', 'bob');
  const k = await stack.ctx.keys.getKeyByHash(sha256Hex(stack.editorKey));
  editorKeyId = k!.key_id;
});
afterAll(async () => {
  await stack?.close();
});

describe('GET / and GET /health; routing', () => {
  it('GET / tells name, version, public_base_url and catalog_url', async () => {
    const r = await req('GET', '/');
    expect(r.status).toBe(200);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; version: string };
    expect(r.body).toEqual({ name: pkg.name, version: pkg.version, public_base_url: stack.publicBaseUrl, catalog_url: `${stack.publicBaseUrl}/catalog.json` });
  });

  it('GET /health answers {ok: true}', async () => {
    const r = await req('GET', '/health');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true });
  });

  it('GET /openapi.json answers anyone with the document generated from the request schemas, served from here', async () => {
    for (const key of [undefined, alice.key, stack.editorKey]) {
      const r = await req('GET', '/openapi.json', { key });
      expect(r.status, r.text).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      expect(r.body).toEqual(openApiDocument({ version: stack.ctx.info.version, serverUrl: stack.url }));
    }
  });

  it('an unknown route is a 404 problem', async () => {
    expectProblem(await req('GET', '/nope'), 404);
    expectProblem(await req('POST', '/records/source'), 404);
    expectProblem(await req('GET', '/records/source/x/y/z', { key: stack.editorKey }), 404);
  });

  it('a known route with the wrong method is a 405 problem', async () => {
    expectProblem(await req('POST', '/health'), 405);
    expectProblem(await req('DELETE', '/'), 405);
    expectProblem(await req('GET', '/reviews', { key: stack.editorKey }), 405);
    expectProblem(await req('POST', '/openapi.json', { key: stack.editorKey }), 405);
    expectProblem(await req('PUT', '/records', { key: stack.editorKey, json: { records: [source(uid('src'))] } }), 405);
    expectProblem(await req('DELETE', '/records/source/abc', { key: stack.editorKey }), 405);
    expectProblem(await req('GET', '/keys', { key: stack.editorKey }), 405);
  });

  it('a malformed percent-encoding in a path parameter is a client error, never a 500', async () => {
    const r = await call(stack, 'GET', '/records/source/%E0%A4%A', { key: stack.editorKey });
    noStack(r);
    expect(r.status, r.text).not.toBe(500);
    expect([400, 404]).toContain(r.status);
  });
});

describe('auth', () => {
  const badAuths: Array<[string, Record<string, string>]> = [
    ['no key', {}],
    ['a Basic header', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
    ['"Bearer" without a key', { authorization: 'Bearer' }],
    ['two tokens', { authorization: 'Bearer abc def' }],
    ['an unknown key', { authorization: `Bearer rl_${randomBytes(32).toString('base64url')}` }],
  ];

  for (const [what, headers] of badAuths) {
    it(`${what} → 401 on every authenticated route, and nothing is written`, async () => {
      const id = uid('src-unauth');
      const send = async (method: string, path: string, body?: unknown) => {
        expectProblem(await call(stack, method, path, { headers, ...(body !== undefined ? { json: body } : {}) }), 401, 'unauthorized');
      };
      await send('POST', '/records', { records: [source(id)] });
      await send('GET', `/records/source/${id}`);
      await send('POST', `/records/source/${id}/review`, { decision: 'approve' });
      await send('POST', `/records/source/${id}/retract`, { reason: 'x' });
      await send('GET', '/records');
      await send('GET', `/records/source/${id}/history`);
      await send('POST', '/reviews', { decisions: [{ kind: 'source', id, revision: 1, decision: 'approve' }] });
      await send('POST', '/keys', { role: 'editor', name: 'sneaky' });
      await send('POST', `/keys/${alice.id}/disable`);
      await expectAbsent('source', id);
      // Alice's key still works.
      expect((await req('GET', `/records/source/${id}`, { key: alice.key })).status).toBe(404);
      expect((await submit(alice.key, [source(uid('src-alive'))])).status).toBe(200);
    });
  }

  it('a contributor on editor routes → 403, and nothing changes', async () => {
    const id = uid('src-403');
    const created = batch(await submit(alice.key, [source(id)]));
    expect(created.results[0]).toMatchObject({ status: 'created', review_status: 'pending' });
    const before = await stack.ctx.records.getHead(id);

    expectProblem(await req('POST', `/records/source/${id}/review`, { key: alice.key, json: { decision: 'approve' } }), 403, 'forbidden');
    expectProblem(await req('POST', `/records/source/${id}/retract`, { key: alice.key, json: { reason: 'mine' } }), 403, 'forbidden');
    expectProblem(await req('POST', '/keys', { key: alice.key, json: { role: 'editor', name: 'escalate' } }), 403, 'forbidden');
    expectProblem(await req('POST', `/keys/${bob.id}/disable`, { key: alice.key }), 403, 'forbidden');

    expect(await stack.ctx.records.getHead(id)).toEqual(before);
    expect(await stack.ctx.records.listAudit(id)).toEqual([]);
    const view = await getRecord('source', id);
    expect(view.body).toMatchObject({ review_status: 'pending', approved_revision: null, retracted: false });
    // Bob's key was not disabled.
    expect((await submit(bob.key, [source(uid('src-bob'))])).status).toBe(200);
  });
});

describe('keys', () => {
  it('POST /keys (editor) → 201 {key_id, key}; the key works with its role', async () => {
    const r = await req('POST', '/keys', { key: stack.editorKey, json: { role: 'editor', name: 'second editor' } });
    expect(r.status).toBe(201);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.body).toMatchObject({ key_id: expect.any(String), key: expect.any(String) });
    // ≥ 128 bits of randomness: well over 22 base64url characters.
    expect(r.body.key.length).toBeGreaterThanOrEqual(22);
    const editor2 = r.body.key as string;
    const id = uid('src-ed2');
    expect(batch(await submit(editor2, [source(id)])).results[0]).toMatchObject({ status: 'created', review_status: 'approved' });
    // Only the hash is stored.
    const stored = JSON.stringify(await stack.ctx.keys.getKeyByHash(sha256Hex(editor2)));
    expect(stored).toContain(r.body.key_id);
    expect(stored).not.toContain(editor2);
  });

  it('POST /keys for a contributor → its submissions are pending and it cannot act as an editor', async () => {
    const c = await newKey('contributor');
    const id = uid('src-c');
    expect(batch(await submit(c.key, [source(id)])).results[0]).toMatchObject({ status: 'created', review_status: 'pending' });
    expectProblem(await req('POST', '/keys', { key: c.key, json: { role: 'contributor', name: 'x' } }), 403);
  });

  it('POST /keys/{id}/disable → 200; the key answers 401 from then on', async () => {
    const c = await newKey('contributor');
    expect((await submit(c.key, [source(uid('src-before-disable'))])).status).toBe(200);
    const d = await req('POST', `/keys/${c.id}/disable`, { key: stack.editorKey });
    expect(d.status, d.text).toBe(200);
    const id = uid('src-after-disable');
    expectProblem(await submit(c.key, [source(id)]), 401, 'unauthorized');
    expectProblem(await getRecord('source', id, c.key), 401);
    await expectAbsent('source', id);
    // Disabling twice is harmless.
    expect((await req('POST', `/keys/${c.id}/disable`, { key: stack.editorKey })).status).toBe(200);
    // A disabled editor key cannot do anything either.
    const e = await newKey('editor');
    expect((await req('POST', `/keys/${e.id}/disable`, { key: stack.editorKey })).status).toBe(200);
    expectProblem(await req('POST', '/keys', { key: e.key, json: { role: 'editor', name: 'zombie' } }), 401);
  });

  it('disabling an unknown key → 404', async () => {
    expectProblem(await req('POST', '/keys/key_doesnotexist/disable', { key: stack.editorKey }), 404, 'not_found');
  });

  it('a bad body → 400 with the field at its path', async () => {
    const r = await req('POST', '/keys', { key: stack.editorKey, json: { role: 'admin', name: 'root' } });
    expectProblem(r, 400);
    expect(r.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/role', code: expect.any(String) })]));
    const missing = await req('POST', '/keys', { key: stack.editorKey, json: { role: 'editor' } });
    expectProblem(missing, 400);
    expect(missing.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/name' })]));
    const extra = await req('POST', '/keys', { key: stack.editorKey, json: { role: 'editor', name: 'n', admin: true } });
    expectProblem(extra, 400);
    expect(extra.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/admin' })]));
    expectProblem(await req('POST', '/keys', { key: stack.editorKey, body: '{"role":', contentType: 'application/json' }), 400, 'invalid_json');
  });
});

describe('POST /records: results', () => {
  it('JSON: created → unchanged on identical resubmission → updated on change', async () => {
    const id = uid('src-life');
    const first = batch(await submit(stack.editorKey, [source(id)]));
    expect(first).toEqual({ accepted: 1, rejected: 0, results: [{ index: 0, id, kind: 'source', status: 'created', revision: 1, review_status: 'approved' }] });

    const again = batch(await submit(stack.editorKey, [source(id)]));
    expect(again).toEqual({ accepted: 1, rejected: 0, results: [{ index: 0, id, kind: 'source', status: 'unchanged', revision: 1, review_status: 'approved' }] });
    expect(await stack.ctx.records.listRevisions(id)).toHaveLength(1);
    expect((await getRecord('source', id)).body.revision).toBe(1);

    // Defaults filled in on input: spelling them out is the same content.
    const explicit = batch(await submit(stack.editorKey, [source(id, { medium: 'article', reliability: 'unknown' })]));
    expect(explicit.results[0]).toMatchObject({ status: 'unchanged', revision: 1 });

    const changed = batch(await submit(stack.editorKey, [source(id, { title: 'A new title' })]));
    expect(changed.results[0]).toEqual({ index: 0, id, kind: 'source', status: 'updated', revision: 2, review_status: 'approved' });
    const revs = await stack.ctx.records.listRevisions(id);
    expect(revs.map((r) => r.revision)).toEqual([1, 2]);
    expect(revs[1]!.changed_fields).toEqual(['/title']);
    const view = (await getRecord('source', id)).body;
    expect(view).toMatchObject({ id, kind: 'source', title: 'A new title', medium: 'article', reliability: 'unknown', revision: 2, review_status: 'approved', approved_revision: 2, retracted: false });
    expect(typeof view.created_at).toBe('string');
    expect(view.expected_revision).toBeUndefined();
  });

  it('NDJSON: one record per line (CRLF and blank lines tolerated), same results as JSON', async () => {
    const s = uid('src-nd');
    const e = uid('evt-nd');
    const body = `${JSON.stringify(source(s))}\r\n\n${JSON.stringify(event(e, [s]))}\n`;
    const r = batch(await submitRaw(stack.editorKey, body, 'application/x-ndjson'));
    expect(r).toEqual({
      accepted: 2,
      rejected: 0,
      results: [
        { index: 0, id: s, kind: 'source', status: 'created', revision: 1, review_status: 'approved' },
        { index: 1, id: e, kind: 'event', status: 'created', revision: 1, review_status: 'approved' },
      ],
    });
    const again = batch(await submitRaw(stack.editorKey, ndjson([source(s), event(e, [s])]), 'application/x-ndjson; charset=utf-8'));
    expect(again.results.map((x) => x.status)).toEqual(['unchanged', 'unchanged']);
  });

  it('text is NFC-normalised: the NFD spelling of the same text is unchanged', async () => {
    const id = uid('src-nfc');
    batch(await submit(stack.editorKey, [source(id, { title: 'Caf\u00e9' })]));
    const nfd = batch(await submit(stack.editorKey, [source(id, { title: 'Cafe\u0301' })]));
    expect(nfd.results[0]).toMatchObject({ status: 'unchanged', revision: 1 });
    expect((await getRecord('source', id)).body.title).toBe('Caf\u00e9');
  });

  it('a mixed batch stores the valid records and rejects the invalid ones with path and code', async () => {
    const s = uid('src-mix');
    const e = uid('evt-mix');
    const c = uid('clm-mix');
    const bad1 = uid('clm-bad');
    const bad2 = uid('src-bad');
    const p = uid('per-mix');
    const r = batch(
      await submit(stack.editorKey, [
        source(s),
        event(e, [s]),
        claim(bad1, [s], { value: { low: 10, best: 5 } }),
        claim(c, [s], { event_id: e }),
        source(bad2, { colour: 'red', revision: 4 }),
        person(p, [s], { event_ids: [e], name: 'Someone' }),
      ]),
    );
    expect(r.accepted).toBe(4);
    expect(r.rejected).toBe(2);
    expect(r.results.map((x) => x.status)).toEqual(['created', 'created', 'rejected', 'created', 'rejected', 'created']);
    expect(r.results[2]).toMatchObject({ index: 2, id: bad1, kind: 'claim', status: 'rejected' });
    expectRejected(r.results[2], '/value/low', 'count_order');
    expect(r.results[2].revision).toBeUndefined();
    expectRejected(r.results[4], '/colour', 'unknown_field');
    expectRejected(r.results[4], '/revision', 'server_field');
    for (const [kind, id] of [['source', s], ['event', e], ['claim', c], ['person', p]] as const) expect((await getRecord(kind, id)).status).toBe(200);
    await expectAbsent('claim', bad1);
    await expectAbsent('source', bad2);
  });

  it('editor submissions land approved, contributor submissions pending', async () => {
    const a = uid('src-ed');
    const b = uid('src-co');
    expect(batch(await submit(stack.editorKey, [source(a)])).results[0]).toMatchObject({ status: 'created', review_status: 'approved' });
    expect(batch(await submit(alice.key, [source(b)])).results[0]).toMatchObject({ status: 'created', review_status: 'pending' });
    expect((await getRecord('source', a)).body).toMatchObject({ review_status: 'approved', approved_revision: 1 });
    expect((await getRecord('source', b)).body).toMatchObject({ review_status: 'pending', approved_revision: null });
  });

  it('expected_revision: a mismatch is revision_conflict and leaves the record untouched; a match updates', async () => {
    const id = uid('src-er');
    batch(await submit(stack.editorKey, [source(id)]));
    const before = await stack.ctx.records.getHead(id);
    const conflict = batch(await submit(stack.editorKey, [source(id, { title: 'changed', expected_revision: 3 })]));
    expect(conflict.results[0]).toMatchObject({ index: 0, id, kind: 'source', status: 'rejected' });
    expectRejected(conflict.results[0], '/expected_revision', 'revision_conflict');
    expect(await stack.ctx.records.getHead(id)).toEqual(before);
    expect(await stack.ctx.records.listRevisions(id)).toHaveLength(1);

    // A new id with an expected revision is a conflict too (nothing is stored).
    const fresh = uid('src-er-new');
    expectRejected(batch(await submit(stack.editorKey, [source(fresh, { expected_revision: 1 })])).results[0], '/expected_revision', 'revision_conflict');
    await expectAbsent('source', fresh);

    const ok = batch(await submit(stack.editorKey, [source(id, { title: 'changed', expected_revision: 1 })]));
    expect(ok.results[0]).toMatchObject({ status: 'updated', revision: 2 });
    // A retried update (same content, now stale expected_revision) is not a conflict.
    const retried = batch(await submit(stack.editorKey, [source(id, { title: 'changed', expected_revision: 1 })]));
    expect(retried.results[0]).toEqual({ index: 0, id, kind: 'source', status: 'unchanged', revision: 2, review_status: 'approved' });
    expect(await stack.ctx.records.listRevisions(id)).toHaveLength(2);
    // expected_revision is never stored.
    expect((await stack.ctx.records.getHead(id))!.content).not.toHaveProperty('expected_revision');
  });
});

describe('POST /records: references and ids', () => {
  it('a reference to a stored source is accepted', async () => {
    const s = uid('src-ref');
    batch(await submit(stack.editorKey, [source(s)]));
    const e = uid('evt-ref');
    expect(batch(await submit(stack.editorKey, [event(e, [s])])).results[0]).toMatchObject({ status: 'created' });
  });

  it('a reference to a source later in the same batch is accepted', async () => {
    const s = uid('src-later');
    const e = uid('evt-early');
    const c = uid('clm-early');
    const r = batch(await submit(stack.editorKey, [claim(c, [s], { event_id: e }), event(e, [s]), source(s)]));
    expect(r.results.map((x) => x.status)).toEqual(['created', 'created', 'created']);
  });

  it('a reference to a missing id → unknown_reference at its pointer; nothing stored', async () => {
    const s = uid('src-ok');
    const e = uid('evt-dangling');
    const c = uid('clm-dangling');
    const p = uid('per-dangling');
    const r = batch(
      await submit(stack.editorKey, [
        source(s),
        event(e, [uid('src-missing')]),
        claim(c, [s], { event_id: uid('evt-missing') }),
        person(p, [s, uid('src-missing2')], { event_ids: [uid('evt-missing2')] }),
      ]),
    );
    expect(r.results[0].status).toBe('created');
    expectRejected(r.results[1], '/source_ids/0', 'unknown_reference');
    expectRejected(r.results[2], '/event_id', 'unknown_reference');
    expectRejected(r.results[3], '/source_ids/1', 'unknown_reference');
    expectRejected(r.results[3], '/event_ids/0', 'unknown_reference');
    await expectAbsent('event', e);
    await expectAbsent('claim', c);
    await expectAbsent('person', p);
  });

  it('a reference to an id of the wrong kind → unknown_reference (stored or in the batch)', async () => {
    const s = uid('src-wk');
    const e = uid('evt-wk');
    batch(await submit(stack.editorKey, [source(s), event(e, [s])]));
    const e2 = uid('evt-wk2');
    const c = uid('clm-wk');
    const s3 = uid('src-wk3');
    const e3 = uid('evt-wk3');
    const r = batch(await submit(stack.editorKey, [event(e2, [e]), claim(c, [s], { event_id: s }), source(s3), event(e3, [s3], { source_ids: [s3] }), person(uid('per-wk'), [s], { event_ids: [s3] })]));
    expectRejected(r.results[0], '/source_ids/0', 'unknown_reference');
    expectRejected(r.results[1], '/event_id', 'unknown_reference');
    expect(r.results[2].status).toBe('created');
    expect(r.results[3].status).toBe('created');
    expectRejected(r.results[4], '/event_ids/0', 'unknown_reference');
    await expectAbsent('event', e2);
    await expectAbsent('claim', c);
  });

  it('a record that refers to a record rejected by validation in the same batch is rejected too (transitively)', async () => {
    const s = uid('src-invalid');
    const e = uid('evt-on-invalid');
    const c = uid('clm-on-evt');
    const good = uid('src-good');
    const r = batch(await submit(stack.editorKey, [claim(c, [good], { event_id: e }), source(s, { publisher_type: 'blog' }), event(e, [s]), source(good)]));
    expectRejected(r.results[1], '/publisher_type', 'invalid_value');
    expectRejected(r.results[2], '/source_ids/0', 'unknown_reference');
    expectRejected(r.results[0], '/event_id', 'unknown_reference');
    expect(r.results[3].status).toBe('created');
    await expectAbsent('source', s);
    await expectAbsent('event', e);
    await expectAbsent('claim', c);
  });

  it('a record that refers to a record of the batch rejected when written (revision_conflict) is rejected too', async () => {
    // The source is valid in shape but its write is refused (a new id with expected_revision 5), so it is
    // never stored: an event citing it would dangle.
    const s = uid('src-wconf');
    const e = uid('evt-on-wconf');
    const r = batch(await submit(stack.editorKey, [source(s, { expected_revision: 5 }), event(e, [s])]));
    expectRejected(r.results[0], '/expected_revision', 'revision_conflict');
    await expectAbsent('source', s);
    expectRejected(r.results[1], '/source_ids/0', 'unknown_reference');
    await expectAbsent('event', e);
  });

  it('a record that refers to a same-batch "source" whose id belongs to another kind is rejected (id_taken)', async () => {
    const s = uid('src-real');
    const x = uid('shared');
    batch(await submit(stack.editorKey, [source(s), event(x, [s])]));
    // x is stored as an event; the batch claims a source x (refused: id_taken) and an event citing it.
    const e = uid('evt-on-taken');
    const r = batch(await submit(stack.editorKey, [source(x), event(e, [x])]));
    expectRejected(r.results[0], '/id', 'id_taken');
    expectRejected(r.results[1], '/source_ids/0', 'unknown_reference');
    await expectAbsent('event', e);
  });

  it('a record that refers to a same-batch copy of a retracted source is rejected', async () => {
    const s = uid('src-retr-ref');
    batch(await submit(stack.editorKey, [source(s)]));
    expect((await req('POST', `/records/source/${s}/retract`, { key: stack.editorKey, json: { reason: 'fabricated' } })).status).toBe(200);
    const e = uid('evt-on-retr');
    const r = batch(await submit(stack.editorKey, [source(s, { title: 'resurrected' }), event(e, [s])]));
    expectRejected(r.results[0], '/id', 'record_retracted');
    expectRejected(r.results[1], '/source_ids/0', 'unknown_reference');
    await expectAbsent('event', e);
  });

  it('a reference to a stored retracted source is unknown_reference', async () => {
    const s = uid('src-retr2');
    batch(await submit(stack.editorKey, [source(s)]));
    expect((await req('POST', `/records/source/${s}/retract`, { key: stack.editorKey, json: { reason: 'duplicate' } })).status).toBe(200);
    const e = uid('evt-on-retr2');
    expectRejected(batch(await submit(stack.editorKey, [event(e, [s])])).results[0], '/source_ids/0', 'unknown_reference');
    await expectAbsent('event', e);
  });

  it('duplicate ids with different content → every copy duplicate_id; nothing stored', async () => {
    const id = uid('src-dup');
    const r = batch(await submit(stack.editorKey, [source(id, { title: 'one' }), source(id, { title: 'two' }), source(id, { title: 'one' })]));
    expect(r.accepted).toBe(0);
    for (const x of r.results) expectRejected(x, '/id', 'duplicate_id');
    await expectAbsent('source', id);
  });

  it('duplicate ids where one copy is invalid → all copies rejected', async () => {
    const id = uid('src-dup-inv');
    const r = batch(await submit(stack.editorKey, [source(id), source(id, { publisher_type: 'nope' })]));
    expectRejected(r.results[0], '/id', 'duplicate_id');
    expect(r.results[1].status).toBe('rejected');
    await expectAbsent('source', id);
  });

  it('a stored source cited while the batch carries conflicting copies of it: the citation still resolves to the stored source', async () => {
    const s = uid('src-dupstored');
    batch(await submit(stack.editorKey, [source(s)]));
    const e = uid('evt-dupstored');
    const r = batch(await submit(stack.editorKey, [source(s, { title: 'a' }), source(s, { title: 'b' }), event(e, [s])]));
    expectRejected(r.results[0], '/id', 'duplicate_id');
    expectRejected(r.results[1], '/id', 'duplicate_id');
    // s is stored: the event's reference is neither dangling nor unknown.
    expect(r.results[2], JSON.stringify(r.results[2])).toMatchObject({ status: 'created' });
  });

  it('duplicate ids with identical content → the first is processed, the later copies unchanged', async () => {
    const id = uid('src-dupsame');
    const r = batch(await submit(stack.editorKey, [source(id), source(id), source(id)]));
    expect(r.results).toEqual([
      { index: 0, id, kind: 'source', status: 'created', revision: 1, review_status: 'approved' },
      { index: 1, id, kind: 'source', status: 'unchanged', revision: 1, review_status: 'approved' },
      { index: 2, id, kind: 'source', status: 'unchanged', revision: 1, review_status: 'approved' },
    ]);
    expect(await stack.ctx.records.listRevisions(id)).toHaveLength(1);
  });

  it('an id used by another kind is rejected, and the stored record is untouched', async () => {
    const s = uid('shared-src');
    const cited = uid('src-cited');
    batch(await submit(stack.editorKey, [source(s), source(cited)]));
    const before = await stack.ctx.records.getHead(s);
    const r = batch(await submit(stack.editorKey, [event(s, [cited]), person(s.replace('shared', 'p'), [cited])]));
    expect(r.results[0]).toMatchObject({ id: s, kind: 'event', status: 'rejected' });
    expectRejected(r.results[0], '/id', 'id_taken');
    expect(r.results[1].status).toBe('created');
    const other = batch(await submit(alice.key, [person(s, [cited]), claim(s, [cited])]));
    // Two kinds under one id in one batch: different content, so duplicate_id; against the store, id_taken.
    for (const x of other.results) expect(x.status).toBe('rejected');
    const single = batch(await submit(alice.key, [claim(s, [cited])]));
    expectRejected(single.results[0], '/id', 'id_taken');
    expect(await stack.ctx.records.getHead(s)).toEqual(before);
    expect(await stack.ctx.records.listRevisions(s)).toHaveLength(1);
    expectProblem(await getRecord('event', s), 404);
    expectProblem(await getRecord('claim', s), 404);
  });
});

describe('POST /records: bad input; nothing is written', () => {
  it('malformed JSON → 400 invalid_json', async () => {
    const id = uid('src-badjson');
    const r = await submitRaw(stack.editorKey, `{"records":[${JSON.stringify(source(id))},]}`);
    expectProblem(r, 400, 'invalid_json');
    await expectAbsent('source', id);
    expectProblem(await submitRaw(stack.editorKey, ''), 400);
    expectProblem(await submitRaw(stack.editorKey, 'null'), 400);
  });

  it('a JSON body that is not {"records": [...]} → 400', async () => {
    const id = uid('src-shape');
    expectProblem(await submitRaw(stack.editorKey, JSON.stringify([source(id)])), 400);
    expectProblem(await submitRaw(stack.editorKey, JSON.stringify({ records: source(id) })), 400);
    expectProblem(await submitRaw(stack.editorKey, JSON.stringify({ records: [source(id)], extra: 1 })), 400);
    expectProblem(await submitRaw(stack.editorKey, JSON.stringify(source(id))), 400);
    await expectAbsent('source', id);
  });

  it('malformed NDJSON → 400 naming the line; nothing of the request is stored', async () => {
    const a = uid('src-ndok1');
    const b = uid('src-ndok2');
    const body = `${JSON.stringify(source(a))}\n{"id": "broken",\n${JSON.stringify(source(b))}\n`;
    const r = await submitRaw(stack.editorKey, body, 'application/x-ndjson');
    expectProblem(r, 400, 'invalid_json');
    expect(r.body.errors[0]).toMatchObject({ line: 2, path: '', code: 'invalid_json', message: expect.any(String) });
    expect(r.body.errors).toHaveLength(1);
    await expectAbsent('source', a);
    await expectAbsent('source', b);
    // Lines are counted from 1, blank ones included.
    const r2 = await submitRaw(stack.editorKey, `\n\n${JSON.stringify(source(a))}\nnot json\n`, 'application/x-ndjson');
    expectProblem(r2, 400, 'invalid_json');
    expect(r2.body.errors[0].line).toBe(4);
  });

  it('a body that is not UTF-8 → 400; nothing stored', async () => {
    const id = uid('src-utf8');
    const json = Buffer.from(JSON.stringify({ records: [source(id, { title: 'X' })] }));
    const bad = Buffer.concat([json.subarray(0, json.indexOf('"X"') + 1), Buffer.from([0xff, 0xfe]), json.subarray(json.indexOf('"X"') + 2)]);
    expectProblem(await submitRaw(stack.editorKey, new Uint8Array(bad)), 400);
    expectProblem(await submitRaw(stack.editorKey, new Uint8Array(bad), 'application/x-ndjson'), 400);
    await expectAbsent('source', id);
  });

  it('a wrong content type → 415; nothing stored', async () => {
    const id = uid('src-415');
    const body = JSON.stringify({ records: [source(id)] });
    expectProblem(await submitRaw(stack.editorKey, body, 'text/plain'), 415);
    expectProblem(await submitRaw(stack.editorKey, body, 'application/xml'), 415);
    expectProblem(await req('POST', '/records', { key: stack.editorKey, body }), 415);
    await expectAbsent('source', id);
  });

  it('more than 5 MiB → 413; nothing stored', async () => {
    const id = uid('src-big');
    // 1000 records of ~6 KB each: within the record limit, over the byte limit.
    const filler = Array.from({ length: 999 }, (_, i) => source(`${id}-f${i}`, { title: 'x'.repeat(480), tags: Array.from({ length: 20 }, () => 'z'.repeat(64)), restricted: { notes: 'n'.repeat(4000) } }));
    const records = [source(id), ...filler];
    const body = JSON.stringify({ records });
    expect(Buffer.byteLength(body)).toBeGreaterThan(5 * 1024 * 1024);
    expectProblem(await submitRaw(stack.editorKey, body), 413);
    expectProblem(await submitRaw(stack.editorKey, ndjson(records), 'application/x-ndjson'), 413);
    await expectAbsent('source', id);
    await expectAbsent('source', `${id}-f0`);
  });

  it('more than 1000 records → 413; nothing stored', async () => {
    const id = uid('src-many');
    const records = Array.from({ length: 1001 }, (_, i) => source(`${id}-${i}`));
    expectProblem(await submit(stack.editorKey, records), 413);
    expectProblem(await submitRaw(stack.editorKey, ndjson(records), 'application/x-ndjson'), 413);
    await expectAbsent('source', `${id}-0`);
    await expectAbsent('source', `${id}-1000`);
  });

  it('no records → 400 empty_batch', async () => {
    expectProblem(await submit(stack.editorKey, []), 400, 'empty_batch');
    expectProblem(await submitRaw(stack.editorKey, '\n\n', 'application/x-ndjson'), 400, 'empty_batch');
    expectProblem(await submitRaw(stack.editorKey, '', 'application/x-ndjson'), 400, 'empty_batch');
  });

  it('__proto__ and constructor keys → the record is rejected with forbidden_key; nothing polluted', async () => {
    const a = uid('src-proto');
    const b = uid('src-ctor');
    const c = uid('evt-proto');
    const ok = uid('src-proto-ok');
    const body =
      `{"records":[` +
      `${JSON.stringify(source(a)).slice(0, -1)},"__proto__":{"polluted":"yes","title":"p"}},` +
      `${JSON.stringify(source(b)).slice(0, -1)},"constructor":{"prototype":{"polluted":"yes"}}},` +
      `${JSON.stringify(event(c, [ok])).replace('"location":{', '"location":{"__proto__":{"admin2":"x"},')},` +
      `${JSON.stringify(source(ok))}]}`;
    const r = batch(await submitRaw(stack.editorKey, body));
    expectRejected(r.results[0], '/__proto__', 'forbidden_key');
    expectRejected(r.results[1], '/constructor', 'forbidden_key');
    expectRejected(r.results[2], '/location/__proto__', 'forbidden_key');
    expect(r.results[3].status).toBe('created');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await expectAbsent('source', a);
    await expectAbsent('source', b);
    await expectAbsent('event', c);
  });

  it('NUL and lone surrogates in strings → invalid_text (also in keys and nested values)', async () => {
    const a = uid('src-nul');
    const b = uid('src-sur');
    const c = uid('src-sur2');
    const d = uid('evt-nul');
    const s = uid('src-text-ok');
    const body =
      `{"records":[` +
      `${JSON.stringify(source(a)).replace(/"title":"[^"]*"/, '"title":"bad\\u0000title"')},` +
      `${JSON.stringify(source(b)).replace(/"publisher":"[^"]*"/, '"publisher":"x\\ud800y"')},` +
      `${JSON.stringify(source(c)).replace(/"title":"[^"]*"/, '"title":"end\\udc00"')},` +
      `${JSON.stringify(event(d, [s])).replace('"admin1":"Tehran"', '"admin1":"Teh\\u0007ran"')},` +
      `${JSON.stringify(source(s, { title: 'tab\tand\nnewline fine' }))}]}`;
    const r = batch(await submitRaw(stack.editorKey, body));
    expectRejected(r.results[0], '/title', 'invalid_text');
    expectRejected(r.results[1], '/publisher', 'invalid_text');
    expectRejected(r.results[2], '/title', 'invalid_text');
    expectRejected(r.results[3], '/location/admin1', 'invalid_text');
    expect(r.results[4].status).toBe('created');
    for (const id of [a, b, c]) await expectAbsent('source', id);
    await expectAbsent('event', d);
  });

  it('numbers as strings, impossible dates, out-of-range coordinates, unknown kinds → rejected at their paths', async () => {
    const s = uid('src-v');
    batch(await submit(stack.editorKey, [source(s)]));
    const ids = Array.from({ length: 9 }, (_, i) => uid(`rec-v${i}`));
    const r = batch(
      await submit(stack.editorKey, [
        event(ids[0]!, [s], { killed: { best: '5' } }),
        person(ids[1]!, [s], { age: '30' }),
        event(ids[2]!, [s], { date_start: '2026-02-30' }),
        event(ids[3]!, [s], { location: { latitude: 91, longitude: 10, geo_precision: 'exact' } }),
        event(ids[4]!, [s], { location: { latitude: 10, longitude: -181, geo_precision: 'exact' } }),
        { ...source(ids[5]!), kind: 'rumour' },
        { id: ids[6], title: 'no kind' },
        source(ids[7]!, { published_on: '2026-13-01' }),
        claim(ids[8]!, [s], { value: { best: 1.5 } }),
      ]),
    );
    expect(r.accepted).toBe(0);
    expectRejected(r.results[0], '/killed/best', 'invalid_type');
    expectRejected(r.results[1], '/age', 'invalid_type');
    expect(r.results[2].errors.map((e: any) => e.path)).toContain('/date_start');
    expect(r.results[3].errors.map((e: any) => e.path)).toContain('/location/latitude');
    expect(r.results[4].errors.map((e: any) => e.path)).toContain('/location/longitude');
    expectRejected(r.results[5], '/kind', 'unknown_kind');
    expectRejected(r.results[6], '/kind', 'required');
    expect(r.results[7].errors.map((e: any) => e.path)).toContain('/published_on');
    expect(r.results[8].errors.map((e: any) => e.path)).toContain('/value/best');
    for (const x of r.results) expect(x.status).toBe('rejected');
    for (const id of ids) expect(await stack.ctx.records.getHead(id)).toBeUndefined();
  });

  it('non-object records (null, number, array, string) are rejected, not a 500', async () => {
    const r = batch(await submit(stack.editorKey, [null, 42, ['a'], 'record', true]));
    expect(r.accepted).toBe(0);
    for (const x of r.results) expect(x.status).toBe('rejected');
  });

  it('10,000-deep nesting → 400 or a rejected record, never a 500; nothing stored', async () => {
    const id = uid('src-deep');
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    const deepObj = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    const inTags = JSON.stringify(source(id)).slice(0, -1) + `,"tags":${deep}}`;
    const inField = JSON.stringify(source(`${id}-2`)).slice(0, -1) + `,"restricted":${deepObj}}`;
    for (const [body, type] of [
      [`{"records":[${inTags},${inField}]}`, 'application/json'],
      [`${inTags}\n${inField}\n`, 'application/x-ndjson'],
      [`{"records":${deep.slice(0, 5000)}${deep.slice(-5000)}}`, 'application/json'],
      [`{"records":[${deepObj}]}`, 'application/json'],
    ] as const) {
      const r = await submitRaw(stack.editorKey, body, type);
      expect([200, 400], r.text.slice(0, 300)).toContain(r.status);
      if (r.status === 200) expect(r.body.accepted).toBe(0);
      else expectProblem(r, 400);
    }
    await expectAbsent('source', id);
    await expectAbsent('source', `${id}-2`);
    // The small bodies of other routes too.
    const s = uid('src-deep-ok');
    batch(await submit(stack.editorKey, [source(s)]));
    const review = await req('POST', `/records/source/${s}/review`, { key: stack.editorKey, body: `{"decision":"approve","note":${deep}}`, contentType: 'application/json' });
    expectProblem(review, 400);
    const key = await req('POST', '/keys', { key: stack.editorKey, body: `{"role":"editor","name":${deepObj}}`, contentType: 'application/json' });
    expectProblem(key, 400);
  });

  it('missing or wrong key → 401 and nothing stored', async () => {
    const id = uid('src-nokey');
    expectProblem(await req('POST', '/records', { json: { records: [source(id)] } }), 401, 'unauthorized');
    expectProblem(await req('POST', '/records', { key: 'rl_' + 'A'.repeat(43), json: { records: [source(id)] } }), 401, 'unauthorized');
    await expectAbsent('source', id);
  });
});

describe('contributors, editors and review', () => {
  it('a contributor reads back its own record without restricted; another contributor gets 404; the editor sees restricted and submitted_by', async () => {
    const id = uid('src-own');
    const restricted = { submitter_contact: 'signal:+98-secret', witness: 'cousin of the victim' };
    const r = batch(await submit(alice.key, [source(id, { restricted })]));
    expect(r.results[0]).toMatchObject({ status: 'created', review_status: 'pending', revision: 1 });

    const own = await getRecord('source', id, alice.key);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id, kind: 'source', revision: 1, review_status: 'pending', approved_revision: null, retracted: false });
    expect(own.body).not.toHaveProperty('restricted');
    expect(own.body).not.toHaveProperty('submitted_by');
    expect(own.text).not.toContain('signal:+98-secret');

    expectProblem(await getRecord('source', id, bob.key), 404, 'not_found');
    // Nor may a contributor read an editor's record, or a record under the wrong kind.
    const edOnly = uid('src-edonly');
    batch(await submit(stack.editorKey, [source(edOnly)]));
    expectProblem(await getRecord('source', edOnly, alice.key), 404);
    expectProblem(await getRecord('event', id, alice.key), 404);
    expectProblem(await getRecord('event', id), 404);
    expectProblem(await getRecord('source', uid('src-none')), 404);

    const ed = await getRecord('source', id);
    expect(ed.body).toMatchObject({ restricted, submitted_by: alice.id, review_status: 'pending' });
  });

  it('approve → approved_revision = revision; a contributor update is pending and keeps the approved revision; reject keeps it too', async () => {
    const id = uid('src-rev');
    batch(await submit(alice.key, [source(id, { title: 'first' })]));
    const approved = await req('POST', `/records/source/${id}/review`, { key: stack.editorKey, json: { decision: 'approve', note: 'checked' } });
    expect(approved.status, approved.text).toBe(200);
    expect(approved.body).toMatchObject({ id, revision: 1, review_status: 'approved', approved_revision: 1, title: 'first' });
    expect((await getRecord('source', id)).body).toMatchObject({ review_status: 'approved', approved_revision: 1 });

    const upd = batch(await submit(alice.key, [source(id, { title: 'second' })]));
    expect(upd.results[0]).toEqual({ index: 0, id, kind: 'source', status: 'updated', revision: 2, review_status: 'pending' });
    const view = (await getRecord('source', id)).body;
    expect(view).toMatchObject({ title: 'second', revision: 2, review_status: 'pending', approved_revision: 1 });
    const head = await stack.ctx.records.getHead(id);
    expect(head!.approved).toMatchObject({ title: 'first' });
    expect(head!.approved_revision).toBe(1);

    const rejected = await req('POST', `/records/source/${id}/review`, { key: stack.editorKey, json: { decision: 'reject', note: 'not sourced' } });
    expect(rejected.status, rejected.text).toBe(200);
    expect(rejected.body).toMatchObject({ revision: 2, review_status: 'rejected', approved_revision: 1 });
    expect((await stack.ctx.records.getHead(id))!.approved).toMatchObject({ title: 'first' });
    const audit = await stack.ctx.records.listAudit(id);
    expect(audit.map((a) => [a.action, a.revision, a.by])).toEqual([
      ['approve', 1, editorKeyId],
      ['reject', 2, editorKeyId],
    ]);
    // Reviews write no revision.
    expect(await stack.ctx.records.listRevisions(id)).toHaveLength(2);

    // Another contributor's update also lands pending; the approved revision stays.
    const bobUpd = batch(await submit(bob.key, [source(id, { title: 'third' })]));
    expect(bobUpd.results[0]).toMatchObject({ status: 'updated', revision: 3, review_status: 'pending' });
    expect((await getRecord('source', id, bob.key)).body).toMatchObject({ title: 'third', approved_revision: 1 });
  });

  it('approving a record whose source is still pending → 409 unapproved_reference; fine once the source is approved', async () => {
    const s = uid('src-pend');
    const e = uid('evt-pend');
    batch(await submit(alice.key, [source(s), event(e, [s])]));
    const r = await req('POST', `/records/event/${e}/review`, { key: stack.editorKey, json: { decision: 'approve' } });
    expectProblem(r, 409, 'unapproved_reference');
    expect(r.body.errors).toEqual([expect.objectContaining({ path: '/source_ids/0', code: 'unapproved_reference' })]);
    expect((await getRecord('event', e)).body).toMatchObject({ review_status: 'pending', approved_revision: null });
    expect((await req('POST', `/records/source/${s}/review`, { key: stack.editorKey, json: { decision: 'approve' } })).status).toBe(200);
    const ok = await req('POST', `/records/event/${e}/review`, { key: stack.editorKey, json: { decision: 'approve' } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body).toMatchObject({ review_status: 'approved', approved_revision: 1 });
  });

  it('review of an unknown record → 404; bad decision or body → 400', async () => {
    expectProblem(await req('POST', `/records/source/${uid('src-none')}/review`, { key: stack.editorKey, json: { decision: 'approve' } }), 404, 'not_found');
    const id = uid('src-badrev');
    batch(await submit(alice.key, [source(id)]));
    const before = await stack.ctx.records.getHead(id);
    const bad = await req('POST', `/records/source/${id}/review`, { key: stack.editorKey, json: { decision: 'maybe' } });
    expectProblem(bad, 400);
    expect(bad.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/decision' })]));
    expectProblem(await req('POST', `/records/source/${id}/review`, { key: stack.editorKey, json: {} }), 400);
    expectProblem(await req('POST', `/records/source/${id}/review`, { key: stack.editorKey, body: 'approve', contentType: 'application/json' }), 400);
    expectProblem(await req('POST', `/records/source/${id}/review`, { key: stack.editorKey }), 400);
    expect(await stack.ctx.records.getHead(id)).toEqual(before);
  });
});

describe('retract', () => {
  it('→ 200 retracted with the reason; later submissions are record_retracted; reviews refused', async () => {
    const id = uid('src-retract');
    batch(await submit(stack.editorKey, [source(id)]));
    const r = await req('POST', `/records/source/${id}/retract`, { key: stack.editorKey, json: { reason: 'fabricated document' } });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ id, retracted: true, retraction: { reason: 'fabricated document', at: expect.any(String) } });
    expect((await getRecord('source', id)).body).toMatchObject({ retracted: true, retraction: { reason: 'fabricated document' } });
    expect((await stack.ctx.records.listAudit(id)).map((a) => [a.action, a.note])).toEqual([['retract', 'fabricated document']]);

    for (const rec of [source(id, { title: 'changed' }), source(id)]) {
      const again = batch(await submit(stack.editorKey, [rec]));
      expectRejected(again.results[0], '/id', 'record_retracted');
    }
    expect(await stack.ctx.records.listRevisions(id)).toHaveLength(1);
    expectProblem(await req('POST', `/records/source/${id}/review`, { key: stack.editorKey, json: { decision: 'approve' } }), 409);
  });

  it('a missing, empty or too long reason → 400; an unknown record → 404', async () => {
    const id = uid('src-noreason');
    batch(await submit(stack.editorKey, [source(id)]));
    for (const json of [{}, { reason: '' }, { reason: 'x'.repeat(1001) }, { reason: 7 }]) {
      expectProblem(await req('POST', `/records/source/${id}/retract`, { key: stack.editorKey, json }), 400);
    }
    expect((await getRecord('source', id)).body.retracted).toBe(false);
    expectProblem(await req('POST', `/records/source/${uid('src-none')}/retract`, { key: stack.editorKey, json: { reason: 'x' } }), 404);
  });
});

describe('idempotency', () => {
  it('the same batch of 50 records submitted 5 times concurrently → every record has exactly one revision', async () => {
    const sources = Array.from({ length: 10 }, (_, i) => source(uid(`src-idem${i}`)));
    const events = Array.from({ length: 40 }, (_, i) => event(uid(`evt-idem${i}`), [sources[i % 10]!.id as string, sources[(i + 3) % 10]!.id as string]));
    // Events first: their sources come later in the batch.
    const records = [...events, ...sources];
    const responses = await Promise.all(Array.from({ length: 5 }, () => submit(alice.key, records)));
    for (const r of responses) {
      const b = batch(r);
      expect(b.rejected, JSON.stringify(b.results.filter((x) => x.status === 'rejected'))).toBe(0);
      expect(b.accepted).toBe(50);
      for (const x of b.results) expect(x).toMatchObject({ revision: 1, review_status: 'pending' });
    }
    for (const [i, rec] of records.entries()) {
      const id = rec.id as string;
      expect(await stack.ctx.records.listRevisions(id), id).toHaveLength(1);
      // Exactly one of the five created it; the others found it unchanged.
      expect(responses.map((r) => r.body.results[i].status).sort()).toEqual(['created', 'unchanged', 'unchanged', 'unchanged', 'unchanged']);
    }
    const heads = await stack.ctx.records.getHeads(records.map((r) => r.id as string));
    expect(heads.size).toBe(50);
    for (const h of heads.values()) expect(h).toMatchObject({ revision: 1, version: 1, submitters: [alice.id] });

    // And once more, sequentially, with an update mixed in: one more revision for that one only.
    const changed = records.map((r, i) => (i === 0 ? { ...r, description: 'corrected' } : r));
    const again = await Promise.all(Array.from({ length: 5 }, () => submit(alice.key, changed)));
    for (const r of again) expect(batch(r).rejected).toBe(0);
    expect(await stack.ctx.records.listRevisions(records[0]!.id as string)).toHaveLength(2);
    expect(await stack.ctx.records.listRevisions(records[1]!.id as string)).toHaveLength(1);
  });
});

describe('logs', () => {
  it('never contain a key or a restricted value', async () => {
    const captured: string[] = [];
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    const secret = `witness-secret-${randomBytes(6).toString('hex')}`;
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
      captured.push(String(chunk));
      return (out as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;
    process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
      captured.push(String(chunk));
      return (err as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    let newKeyValue = '';
    // The test config runs at WARN; the request logs are what is checked here.
    const level = logger.getLevelName();
    logger.setLogLevel('INFO');
    try {
      const k = await newKey('contributor');
      newKeyValue = k.key;
      const id = uid('src-log');
      batch(await submit(k.key, [source(id, { restricted: { witness: secret, notes: secret } })]));
      batch(await submit(k.key, [source(id, { restricted: { witness: secret, notes: secret }, colour: secret })]));
      await getRecord('source', id);
      await req('POST', '/records', { key: `${k.key}x`, json: { records: [] } });
      await req('POST', `/records/source/${id}/review`, { key: stack.editorKey, json: { decision: 'reject', note: secret } });
      await submitRaw(k.key, `{"records":[{"x":"${secret}"`);
    } finally {
      logger.setLogLevel(level);
      process.stdout.write = out as typeof process.stdout.write;
      process.stderr.write = err as typeof process.stderr.write;
    }
    const logs = captured.join('');
    expect(logs).toContain('"message":"request"');
    expect(logs).not.toContain(newKeyValue);
    expect(logs).not.toContain(stack.editorKey);
    expect(logs).not.toContain(secret);
  });
});

describe('path parameters', () => {
  it('an id, kind or key id that cannot exist (2 KB, or odd characters) is a 404 problem on every route, never a 500', async () => {
    const long = 'a'.repeat(2048);
    const cases: Array<[string, string, unknown?]> = [
      ['GET', `/records/source/${long}`],
      ['GET', `/records/source/${long}/history`],
      ['POST', `/records/source/${long}/review`, { decision: 'approve' }],
      ['POST', `/records/source/${long}/retract`, { reason: 'r' }],
      ['GET', `/records/${long}/src-x`],
      ['POST', `/keys/${long}/disable`],
      ['GET', `/records/source/${encodeURIComponent('src x<script>')}`],
    ];
    for (const [method, path, json] of cases) {
      const r = await call(stack, method, path, { key: stack.editorKey, ...(json ? { json } : {}) });
      expect(r.status, `${method} ${path.slice(0, 60)}`).toBe(404);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(r.text.length).toBeLessThan(1000);
    }
  });
});
