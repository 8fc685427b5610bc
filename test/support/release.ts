// Helpers for the publishing tests: read a release the way the public does (plain HTTP GETs of the
// bucket), check it against its own manifest and SHA256SUMS, and query its Parquet with real DuckDB.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { expect } from 'vitest';
import type { ObjectRetention, ObjectStore, PutOptions } from '../../pipeline/ports.ts';
import { call, type TestStack } from './stack.ts';

export type Rec = Record<string, unknown>;
export type Json = any;

export const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');
export const uid = (prefix: string): string => `${prefix}-${randomBytes(5).toString('hex')}`;

/** A plain unsigned GET of one object of the public bucket; fails the test unless it answers 200. */
export async function fetchObject(baseUrl: string, key: string): Promise<Buffer> {
  const res = await fetch(`${baseUrl}/${key}`);
  const body = Buffer.from(await res.arrayBuffer());
  expect(res.status, `GET ${key}: ${body.toString('utf8').slice(0, 300)}`).toBe(200);
  return body;
}

export async function fetchJson(baseUrl: string, key: string): Promise<{ value: Json; bytes: Buffer }> {
  const bytes = await fetchObject(baseUrl, key);
  return { value: JSON.parse(bytes.toString('utf8')), bytes };
}

/** Every key under `prefix`, sorted. */
export async function listKeys(objects: ObjectStore, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of objects.list(prefix)) keys.push(o.key);
  return keys.sort();
}

/** Every object under `prefix` with its bytes (through the store: this is for before/after comparisons). */
export async function snapshot(objects: ObjectStore, prefix = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const k of await listKeys(objects, prefix)) {
    const bytes = await objects.get(k);
    if (!bytes) throw new Error(`${k} was listed but cannot be read`);
    out.set(k, Buffer.from(bytes).toString('base64'));
  }
  return out;
}

/** Restricts a snapshot to keys that pass `keep`. */
export const only = (snap: Map<string, string>, keep: (key: string) => boolean): Map<string, string> => new Map([...snap].filter(([k]) => keep(k)));

/** NDJSON (gzip) → objects. */
export const ndjsonGz = (bytes: Uint8Array): Json[] =>
  gunzipSync(bytes)
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

export interface VerifiedRelease {
  version: string;
  manifest: Json;
  manifestBytes: Buffer;
  /** Every file of the release folder by its path relative to the folder (manifest and SHA256SUMS included). */
  files: Map<string, Buffer>;
}

/**
 * Fetches `releases/{version}/` over HTTP and checks it is complete and exact: every resource's bytes
 * and sha256 match the manifest, every SHA256SUMS line matches its file, SHA256SUMS lists every other
 * file of the folder (and only those), and the folder holds nothing else.
 */
export async function verifyRelease(stack: TestStack, version: string): Promise<VerifiedRelease> {
  const base = `releases/${version}/`;
  const { value: manifest, bytes: manifestBytes } = await fetchJson(stack.publicBaseUrl, `${base}manifest.json`);
  expect(manifest.version).toBe(version);
  const files = new Map<string, Buffer>([['manifest.json', manifestBytes]]);
  for (const res of manifest.resources as Json[]) {
    const bytes = await fetchObject(stack.publicBaseUrl, base + res.path);
    files.set(res.path, bytes);
    expect(bytes.byteLength, `${res.path} bytes`).toBe(res.bytes);
    expect(`sha256:${sha256(bytes)}`, `${res.path} hash`).toBe(res.hash);
  }
  const sums = (await fetchObject(stack.publicBaseUrl, `${base}SHA256SUMS`)).toString('utf8');
  files.set('SHA256SUMS', Buffer.from(sums));
  expect(sums.endsWith('\n')).toBe(true);
  const lines = sums.slice(0, -1).split('\n');
  const listed: string[] = [];
  for (const line of lines) {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    expect(m, `SHA256SUMS line ${JSON.stringify(line)}`).not.toBeNull();
    const [, hex, path] = m!;
    const bytes = files.get(path!) ?? (await fetchObject(stack.publicBaseUrl, base + path));
    files.set(path!, bytes);
    expect(sha256(bytes), `SHA256SUMS ${path}`).toBe(hex);
    listed.push(path!);
  }
  const stored = (await listKeys(stack.ctx.objects, base)).map((k) => k.slice(base.length));
  expect([...listed, 'SHA256SUMS'].sort()).toEqual(stored);
  for (const res of manifest.resources as Json[]) expect(listed).toContain(res.path);
  expect(listed).toContain('manifest.json');
  return { version, manifest, manifestBytes, files };
}

/** Writes a verified release's files under a fresh temp dir (the release folder as a user downloads it). */
export async function downloadRelease(release: VerifiedRelease): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ledger-test-release-'));
  for (const [path, bytes] of release.files) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), bytes);
  }
  return dir;
}

export const removeDir = (dir: string) => rm(dir, { recursive: true, force: true });

/** A DuckDB connection for the duration of `fn`. */
export async function withDuckDb<T>(fn: (q: (sql: string) => Promise<Json[]>, db: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    return await fn(async (sql) => (await db.runAndReadAll(sql)).getRowObjectsJson() as Json[], db);
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

export const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Every row of a Parquet file (or glob), as JSON-safe objects (BIGINT as strings, DATE as YYYY-MM-DD). */
export const parquetRows = (q: (sql: string) => Promise<Json[]>, path: string) => q(`SELECT * FROM read_parquet(${sqlString(path)})`);

/** POST /records as JSON; every record must be accepted. */
export async function submitOk(stack: TestStack, key: string, records: Rec[]): Promise<Json[]> {
  const r = await call(stack, 'POST', '/records', { key, json: { records } });
  expect(r.status, r.text).toBe(200);
  expect(r.body.results.filter((x: Json) => x.status === 'rejected'), r.text).toEqual([]);
  return r.body.results;
}

export async function review(stack: TestStack, kind: string, id: string, decision: 'approve' | 'reject'): Promise<void> {
  const r = await call(stack, 'POST', `/records/${kind}/${id}/review`, { key: stack.editorKey, json: { decision } });
  expect(r.status, r.text).toBe(200);
}

export async function retract(stack: TestStack, kind: string, id: string, reason: string): Promise<void> {
  const r = await call(stack, 'POST', `/records/${kind}/${id}/retract`, { key: stack.editorKey, json: { reason } });
  expect(r.status, r.text).toBe(200);
}

export async function newKey(stack: TestStack, role: 'contributor' | 'editor'): Promise<{ key: string; id: string }> {
  const r = await call(stack, 'POST', '/keys', { key: stack.editorKey, json: { role, name: uid(role) } });
  expect(r.status, r.text).toBe(201);
  return { key: r.body.key, id: r.body.key_id };
}

/** POST /publish; expects 200 and returns the body. */
export async function publishOk(stack: TestStack): Promise<Json> {
  const r = await call(stack, 'POST', '/publish', { key: stack.editorKey });
  expect(r.status, r.text).toBe(200);
  return r.body;
}

export async function catalog(stack: TestStack): Promise<{ value: Json; bytes: Buffer }> {
  return fetchJson(stack.publicBaseUrl, 'catalog.json');
}

/** The rows of a table's NDJSON resource in a release (fetched over HTTP). */
export async function releaseNdjson(stack: TestStack, version: string, table: string): Promise<Json[]> {
  return ndjsonGz(await fetchObject(stack.publicBaseUrl, `releases/${version}/json/${table}.ndjson.gz`));
}

// Record builders: valid minimal records of each kind, with overrides.
export const source = (id: string, extra: Rec = {}): Rec => ({ id, kind: 'source', title: `Report ${id}`, publisher: 'Iran Human Rights', publisher_type: 'ngo', ...extra });
export const event = (id: string, sourceIds: string[], extra: Rec = {}): Rec => ({
  id,
  kind: 'event',
  event_type: 'protest',
  date_start: '2026-01-08',
  location: { admin1: 'Tehran' },
  description: `Protest ${id}`,
  source_ids: sourceIds,
  ...extra,
});
export const claim = (id: string, sourceIds: string[], extra: Rec = {}): Rec => ({
  id,
  kind: 'claim',
  metric: 'killed',
  value: { best: 12 },
  qualifier: 'at_least',
  claimant: 'Iran Human Rights',
  claimant_type: 'ngo',
  period_start: '2026-01-01',
  source_ids: sourceIds,
  ...extra,
});
export const person = (id: string, sourceIds: string[], extra: Rec = {}): Rec => ({ id, kind: 'person', fate: 'detained', source_ids: sourceIds, ...extra });

/** The real object store, except that a write (put, putFile, copy) for which `fails(key, writeIndex)` is true throws. */
export class FailingObjectStore implements ObjectStore {
  /** Keys written successfully through this wrapper, in order. */
  readonly written: string[] = [];
  failedKey: string | undefined;
  constructor(
    private readonly inner: ObjectStore,
    private readonly fails: (key: string, put: number) => boolean,
    /** `dies`: the failure is a crash, so the publisher cannot clean up after it: every later delete fails too. */
    private readonly opts: { dies?: boolean } = {},
  ) {}

  private async write(key: string, doWrite: () => Promise<void>): Promise<void> {
    if (this.failedKey !== undefined && this.opts.dies) throw new Error(`injected failure: the process is gone (${key})`);
    if (this.fails(key, this.written.length)) {
      this.failedKey ??= key;
      throw new Error(`injected failure: put #${this.written.length + 1} (${key})`);
    }
    await doWrite();
    this.written.push(key);
  }
  put(key: string, body: Uint8Array, opts: PutOptions): Promise<void> {
    return this.write(key, () => this.inner.put(key, body, opts));
  }
  putFile(key: string, path: string, opts: PutOptions): Promise<void> {
    return this.write(key, () => this.inner.putFile(key, path, opts));
  }
  copy(fromKey: string, toKey: string, opts: PutOptions): Promise<void> {
    return this.write(toKey, () => this.inner.copy(fromKey, toKey, opts));
  }
  get(key: string) {
    return this.inner.get(key);
  }
  getWithTag(key: string) {
    return this.inner.getWithTag(key);
  }
  download(key: string, path: string) {
    return this.inner.download(key, path);
  }
  delete(key: string) {
    if (this.failedKey !== undefined && this.opts.dies) return Promise.reject(new Error(`injected failure: the process is gone (delete ${key})`));
    return this.inner.delete(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  listFolders(prefix: string) {
    return this.inner.listFolders(prefix);
  }
  retain(key: string, retention: ObjectRetention) {
    if (this.failedKey !== undefined && this.opts.dies) return Promise.reject(new Error(`injected failure: the process is gone (retain ${key})`));
    return this.inner.retain(key, retention);
  }
  ping() {
    return this.inner.ping();
  }
}
