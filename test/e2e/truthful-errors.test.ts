import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { logger } from '../../functions/logger.ts';
import { MAX_REFERENCED_IDS } from '../../pipeline/ingest-records.ts';
import type { KeyStore, RecordStore } from '../../pipeline/ports.ts';
import { createKey } from '../../pipeline/manage-keys.ts';
import { reportFigure } from '../support/hardening-report.ts';
import { person, source, uid } from '../support/release.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

/**
 * Errors that tell the truth (issue 8, 2.): a record that loses every write to concurrent writers is
 * that record's `write_conflict`, and the batch goes on; a store that stops answering part-way is a
 * 503 with Retry-After and the results known so far, every acknowledged record stored; a key store
 * that does not answer is 503, never 401 or 500. The store's failures are injected around the real
 * store here; test/e2e/faults-dynamodb.test.ts stops and kills the real server process.
 */
const SOURCE = 'test/e2e/truthful-errors.test.ts';
let stack: TestStack;
let realRecords: RecordStore;
let realKeys: KeyStore;

beforeAll(async () => {
  stack = await startTestStack();
  realRecords = stack.ctx.records;
  realKeys = stack.ctx.keys;
}, 60_000);
afterAll(() => stack?.close());

/** The real store, with some of its methods replaced (the handlers read ctx.records at each call). */
function around<T extends object>(real: T, replaced: Partial<T>): T {
  return new Proxy(real, {
    get(target, prop) {
      if (prop in replaced) return replaced[prop as keyof T];
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** What the SDK throws when a store is silent past the client's timeout. */
const timeoutError = () => Object.assign(new Error('the request socket timed out'), { name: 'TimeoutError' });

const submit = (records: unknown[], key = stack.editorKey) => call(stack, 'POST', '/records', { key, json: { records } });

describe('write conflicts', () => {
  it('30 concurrent updates of one record without expected_revision: no 5xx, each answer true to what is stored', async () => {
    const id = uid('src-contended');
    expect((await submit([source(id)])).status).toBe(200);
    const writers = 30;
    const answers = await Promise.all(Array.from({ length: writers }, (_, i) => submit([source(id, { title: `Version ${i}` })])));
    const fiveHundreds = answers.filter((a) => a.status >= 500).length;
    expect(answers.map((a) => a.status)).toEqual(Array(writers).fill(200));
    const results = answers.map((a) => a.body.results[0]);
    for (const r of results) {
      if (r.status === 'rejected') expect(r).toMatchObject({ retryable: true, errors: [{ code: 'write_conflict', path: '/id' }] });
      else expect(r.status).toBe('updated');
    }
    // Every acknowledged update is a stored revision, and nothing else is.
    const updated = results.filter((r) => r.status === 'updated');
    const revisions = await realRecords.listRevisions(id);
    expect(revisions).toHaveLength(1 + updated.length);
    expect(new Set(updated.map((r) => r.revision))).toEqual(new Set(revisions.slice(1).map((r) => r.revision)));
    reportFigure({ section: 'concurrency', figure: 'concurrent writers of one record (POST /records, no expected_revision)', value: writers, source: SOURCE });
    reportFigure({ section: 'concurrency', figure: 'write_conflict results among them', value: results.length - updated.length, source: SOURCE });
    reportFigure({ section: 'concurrency', figure: '5xx answers to concurrent writers', value: fiveHundreds, source: SOURCE });
    reportFigure({ section: 'concurrency', figure: 'acknowledged updates without a stored revision', value: updated.length + 1 - revisions.length, source: SOURCE });
  }, 120_000);

  it('a record whose every write attempt loses is its own write_conflict (retryable); the rest of the batch is written', async () => {
    const hot = uid('src-hot');
    const others = [uid('src-calm'), uid('src-calm')];
    stack.ctx.records = around(realRecords, {
      writeRevision: async (head, ...rest) => (head.id === hot ? false : realRecords.writeRevision(head, ...rest)),
      // In a group, the hot record fails its condition and the others go as the store would send them.
      writeRevisions: async (writes) => {
        const others = writes.filter((w) => w.head.id !== hot);
        const told = others.length > 0 ? await realRecords.writeRevisions!(others) : [];
        return writes.map((w) => (w.head.id === hot ? 'stale' : (told[others.indexOf(w)] ?? 'not_sent')));
      },
    });
    try {
      const r = await submit([source(others[0]!), source(hot), source(others[1]!)]);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ accepted: 2, rejected: 1 });
      expect(r.body.results[1]).toMatchObject({ id: hot, status: 'rejected', retryable: true, errors: [{ path: '/id', code: 'write_conflict' }] });
      expect(r.body.results[0]).toMatchObject({ status: 'created' });
      expect(r.body.results[2]).toMatchObject({ status: 'created' });
    } finally {
      stack.ctx.records = realRecords;
    }
    expect(await realRecords.getHead(hot)).toBeUndefined();
  }, 60_000);
});

describe('a store outage mid-batch', () => {
  it('answers 503 problem+json with Retry-After and the results known so far; each acknowledged record is stored; logged once', async () => {
    const ids = Array.from({ length: 40 }, () => uid('src-outage'));
    // The store answers the first groups (up to 10 records), then times out on every write.
    let sent = 0;
    const written = new Set<string>();
    stack.ctx.records = around(realRecords, {
      writeRevision: async () => Promise.reject(timeoutError()),
      writeRevisions: async (writes) => {
        if ((sent += writes.length) > 10) throw timeoutError();
        const told = await realRecords.writeRevisions!(writes);
        writes.forEach((w, i) => told[i] === 'written' && written.add(w.head.id));
        return told;
      },
    });
    const errors = vi.spyOn(logger, 'error');
    let r;
    let logged: number;
    try {
      r = await submit(ids.map((id) => source(id)));
    } finally {
      logged = errors.mock.calls.length;
      stack.ctx.records = realRecords;
      errors.mockRestore();
    }
    expect(r.status).toBe(503);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(r.body).toMatchObject({ status: 503, code: 'store_unavailable' });
    expect(r.text).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(logged).toBe(1);
    const results = r.body.results as Array<{ index: number; id: string; status: string; retryable?: boolean; errors?: Array<{ code: string }> }>;
    expect(results).toHaveLength(ids.length);
    expect(results.map((x) => x.id)).toEqual(ids);
    const acknowledged = results.filter((x) => x.status === 'created');
    // Exactly the records of the groups the store answered, no more, no fewer.
    expect(written.size).toBeGreaterThan(0);
    expect(new Set(acknowledged.map((x) => x.id))).toEqual(written);
    expect(r.body.accepted).toBe(written.size);
    for (const x of results.filter((y) => y.status !== 'created')) expect(x).toMatchObject({ status: 'rejected', retryable: true, errors: [{ code: 'store_unavailable' }] });
    const stored = await realRecords.getHeads(acknowledged.map((x) => x.id));
    expect(stored.size).toBe(acknowledged.length);
    // The retry of the whole batch is safe and completes it.
    const again = await submit(ids.map((id) => source(id)));
    expect(again.status).toBe(200);
    expect(again.body.results.filter((x: { status: string }) => x.status === 'unchanged')).toHaveLength(written.size);
    expect(again.body.accepted).toBe(ids.length);
    reportFigure({ section: 'outages', figure: 'injected store failures mid-batch (POST /records)', value: 1, source: SOURCE });
    reportFigure({ section: 'outages', figure: 'acknowledged records lost after an injected mid-batch failure', value: acknowledged.length - stored.size, source: SOURCE });
  }, 60_000);

  it('a store that fails before any write answers 503 too, never 500', async () => {
    stack.ctx.records = around(realRecords, { getHeads: async () => Promise.reject(timeoutError()) });
    try {
      const r = await submit([source(uid('src-x'))]);
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBeTruthy();
      expect(r.body.results[0]).toMatchObject({ status: 'rejected', retryable: true });
    } finally {
      stack.ctx.records = realRecords;
    }
  }, 30_000);

  it('a bug is still a 500 (not dressed up as an outage)', async () => {
    stack.ctx.records = around(realRecords, { getHeads: async () => Promise.reject(new TypeError('a bug')) });
    const errors = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    try {
      const r = await submit([source(uid('src-x'))]);
      expect(r.status).toBe(500);
      expect(r.headers.get('retry-after')).toBeNull();
    } finally {
      stack.ctx.records = realRecords;
      errors.mockRestore();
    }
  }, 30_000);
});

describe('the key store down', () => {
  it('answers 503 with Retry-After, logged, for a valid key; 401 stays for a missing or unknown key', async () => {
    const contributor = await createKey('contributor', 'truthful', 'test', stack.ctx);
    stack.ctx.keys = around(realKeys, { getKeyByHash: async () => Promise.reject(timeoutError()) });
    const errors = vi.spyOn(logger, 'error');
    try {
      for (const key of [stack.editorKey, contributor.key, 'rl_unknown_key_while_down']) {
        errors.mockClear();
        const r = await call(stack, 'GET', `/records/source/${uid('src-x')}`, { key });
        expect(r.status).toBe(503);
        expect(r.headers.get('retry-after')).toBeTruthy();
        expect(r.body).toMatchObject({ status: 503, code: 'store_unavailable' });
        expect(errors.mock.calls).toHaveLength(1);
      }
      // No key at all needs no look-up: still 401.
      expect((await call(stack, 'GET', '/records')).status).toBe(401);
    } finally {
      stack.ctx.keys = realKeys;
      errors.mockRestore();
    }
    expect((await call(stack, 'GET', '/records', { key: 'rl_unknown_key' })).status).toBe(401);
    expect((await call(stack, 'GET', '/records', { key: contributor.key })).status).toBe(200);
  }, 30_000);
});

describe('GET /health with the store down', () => {
  it('answers 503 store_unavailable with Retry-After, naming what does not answer, logged once', async () => {
    stack.ctx.records = around(realRecords, { ping: async () => Promise.reject(timeoutError()) });
    const errors = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    try {
      const r = await call(stack, 'GET', '/health');
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBeTruthy();
      expect(r.body).toMatchObject({ status: 503, code: 'store_unavailable', detail: expect.stringContaining('not answering: store') });
      expect(r.body.detail).not.toContain('bucket');
      expect(errors.mock.calls).toHaveLength(1);
    } finally {
      stack.ctx.records = realRecords;
      errors.mockRestore();
    }
    expect((await call(stack, 'GET', '/health')).status).toBe(200);
  }, 30_000);
});

describe('reference look-ups per request', () => {
  const citing = (n: number) => {
    const tag = uid('m');
    return Array.from({ length: n }, (_, p) =>
      person(uid('per-cites'), Array.from({ length: 50 }, (_, i) => `src-${tag}-${p}-${i}`), { event_ids: Array.from({ length: 50 }, (_, i) => `evt-${tag}-${p}-${i}`) }),
    );
  };

  it(`up to ${MAX_REFERENCED_IDS} distinct ids outside the request are looked up; a record past the bound is rejected at its first reference beyond it`, async () => {
    const perRecord = 100;
    const fit = MAX_REFERENCED_IDS / perRecord;
    const records = citing(fit + 2);
    const r = await submit(records);
    expect(r.status).toBe(200);
    const results = r.body.results as Array<{ status: string; errors: Array<{ path: string; code: string }> }>;
    for (const x of results.slice(0, fit)) {
      expect(x.status).toBe('rejected');
      expect(x.errors.every((e) => e.code === 'unknown_reference')).toBe(true);
    }
    for (const x of results.slice(fit)) expect(x.errors).toEqual([{ path: '/source_ids/0', code: 'too_many_references', message: expect.stringContaining(String(MAX_REFERENCED_IDS)) }]);
  }, 60_000);

  it('ids cited again, or carried by the request itself, do not count', async () => {
    const s = uid('src-shared');
    const records = [source(s), ...Array.from({ length: 3 * MAX_REFERENCED_IDS / 50 }, () => person(uid('per-shared'), [s]))];
    const r = await submit(records.slice(0, 1000));
    expect(r.status).toBe(200);
    expect(r.body.rejected).toBe(0);
  }, 120_000);
});
