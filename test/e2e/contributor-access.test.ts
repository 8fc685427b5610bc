import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
let bob: string;
beforeAll(async () => {
  stack = await startTestStack();
  bob = (await call(stack, 'POST', '/keys', { key: stack.editorKey, json: { role: 'contributor', name: 'bob' } })).body.key;
  const src = { id: 'src-access', kind: 'source', title: 'T', publisher: 'P', publisher_type: 'ngo' };
  expect((await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [src] } })).body.accepted).toBe(1);
});
afterAll(async () => {
  await stack?.close();
});

const secretPerson = {
  id: 'per-access',
  kind: 'person',
  name: 'Withheld Name',
  fate: 'detained',
  location: { admin1: 'Tehran', admin2: 'Tehran', place: 'Evin, ward 209', latitude: 35.79, longitude: 51.39, geo_precision: 'exact' },
  source_ids: ['src-access'],
  restricted: { witness: 'a witness' },
};

describe('what a contributor may read of a record others wrote', () => {
  it('having once submitted to an id does not open what an editor writes there later', async () => {
    expect((await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [secretPerson] } })).body.accepted).toBe(1);
    expect((await call(stack, 'GET', '/records/person/per-access', { key: bob })).status).toBe(404);

    // Bob sends junk to the id: a pending revision of his own, which he may read as he sent it.
    const junk = { id: 'per-access', kind: 'person', fate: 'unknown', source_ids: ['src-access'] };
    expect((await call(stack, 'POST', '/records', { key: bob, json: { records: [junk] } })).body.results[0]).toMatchObject({ status: 'updated', review_status: 'pending' });
    expect((await call(stack, 'GET', '/records/person/per-access', { key: bob })).body).toMatchObject({ fate: 'unknown', revision: 2 });

    // The editor rejects it and puts the real content back.
    expect((await call(stack, 'POST', '/records/person/per-access/review', { key: stack.editorKey, json: { decision: 'reject' } })).status).toBe(200);
    expect((await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [secretPerson] } })).body.results[0]).toMatchObject({ status: 'updated', revision: 3 });

    const seen = await call(stack, 'GET', '/records/person/per-access', { key: bob });
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ revision: 3, name: null, name_fa: null, location: { country: 'IR', admin1: 'Tehran', admin2: null, place: null, latitude: null, longitude: null, geo_precision: 'province' } });
    expect(seen.text).not.toContain('Withheld Name');
    expect(seen.text).not.toContain('Evin');
    expect(seen.text).not.toContain('a witness');
    expect(seen.body).not.toHaveProperty('submitted_by');

    // The editor still sees everything.
    const editor = await call(stack, 'GET', '/records/person/per-access', { key: stack.editorKey });
    expect(editor.body).toMatchObject({ name: 'Withheld Name', restricted: { witness: 'a witness' } });
  });
});

describe('an editor citing a record that is not approved', () => {
  it('is refused with unapproved_reference (the release would dangle), and accepted once the cited record is approved', async () => {
    const pendingSource = { id: 'src-pending-by-bob', kind: 'source', title: 'T', publisher: 'P', publisher_type: 'witness' };
    expect((await call(stack, 'POST', '/records', { key: bob, json: { records: [pendingSource] } })).body.results[0]).toMatchObject({ review_status: 'pending' });
    const event = { id: 'evt-cites-pending', kind: 'event', event_type: 'protest', date_start: '2026-01-08', location: { admin1: 'Tehran' }, description: 'x', source_ids: ['src-access', 'src-pending-by-bob'] };
    const refused = await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [event] } });
    expect(refused.body.results[0]).toMatchObject({ status: 'rejected', errors: [{ path: '/source_ids/1', code: 'unapproved_reference' }] });
    expect((await call(stack, 'GET', '/records/event/evt-cites-pending', { key: stack.editorKey })).status).toBe(404);

    expect((await call(stack, 'POST', '/records/source/src-pending-by-bob/review', { key: stack.editorKey, json: { decision: 'approve' } })).status).toBe(200);
    expect((await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [event] } })).body.results[0]).toMatchObject({ status: 'created', review_status: 'approved' });
  });
});
