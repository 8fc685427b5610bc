import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import { athenaDdl } from '../schemas/athena.ts';
import { RECORD_KINDS, listReferences, recordJsonSchema, type LedgerRecord } from '../schemas/records.ts';
import { Catalog, Manifest, type ManifestResource } from '../schemas/release.ts';
import { KIND_TABLE, TABLES, TABLE_NAMES, tableSchema, type ChangeRow, type TableDef, type TableName } from '../schemas/tables.ts';
import { sha256Hex } from './canonical.ts';
import { LedgerError, conflict } from './errors.ts';
import { landingPage, type TollBar } from './landing-page.ts';
import { LineSink } from './line-sink.ts';
import type { Clock, LeaseStore, ObjectStore, ParquetWriter, RecordStore, ReleaseStateStore } from './ports.ts';
import { publicRecord, type PublicRecord } from './redact.ts';

export interface PublishDeps {
  records: RecordStore;
  leases: LeaseStore;
  releases: ReleaseStateStore;
  objects: ObjectStore;
  clock: Clock;
  openParquetWriter: () => Promise<ParquetWriter>;
  info: { datasetName: string; publicBaseUrl: string; bucketName: string };
}

export interface PublishOptions {
  /** Share of a table's rows (0..1) that may vanish without matching retractions before a release is refused. */
  maxDropShare?: number;
  leaseTtlMs?: number;
  scanSegments?: number;
  /** Rows per Parquet part before a table is split. */
  partRows?: number;
  onProgress?: (message: string) => void;
}

export type PublishResult =
  | { published: true; version: string; manifest: string; record_counts: Record<string, number>; changes: Record<'add' | 'modify' | 'delete', number> }
  | { published: false; reason: string };

export const PUBLISH_LEASE = 'publish';
const RECORD_TABLES = ['sources', 'events', 'claims', 'persons'] as const satisfies readonly TableName[];
const IMMUTABLE = 'public, max-age=31536000, immutable';
const MUTABLE = 'public, max-age=60';
const TITLE = 'Rights Ledger: events, claims, persons and sources of human-rights documentation';

/** The next release id: the start time, or one second after the last release when the clock has not passed it. */
export function nextReleaseId(now: Date, last: string | undefined): string {
  const fmt = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  const id = fmt(now);
  if (!last || id > last) return id;
  return fmt(new Date(parseReleaseId(last).getTime() + 1000));
}

const parseReleaseId = (id: string) => new Date(`${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}Z`);

/** Flattens a published record into a table row: columns named and typed by the table definition. */
export function flatRow(rec: Record<string, unknown>, table: TableDef): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const c of table.columns) {
    let v: unknown = rec;
    for (const key of c.source) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
    row[c.name] = v ?? null;
  }
  return row;
}

interface PreviousRelease {
  version: string;
  manifestBytes: Uint8Array;
  catalog: Catalog;
  index: Map<string, { table: TableName; revision: number; first_published: string }>;
}

async function readJson<T>(objects: ObjectStore, key: string, parse: (v: unknown) => T): Promise<{ value: T; bytes: Uint8Array } | undefined> {
  const bytes = await objects.get(key);
  if (!bytes) return undefined;
  return { value: parse(JSON.parse(Buffer.from(bytes).toString('utf8'))), bytes };
}

/** The previous release as the catalog names it, with an index of its records read from its own files. */
async function readPrevious(objects: ObjectStore, releases: ReleaseStateStore): Promise<PreviousRelease | undefined> {
  const recorded = await releases.getLatest();
  const catalog = await readJson(objects, 'catalog.json', (v) => Catalog.parse(v));
  if (!catalog) {
    if (recorded) throw conflict('release_integrity', `catalog.json is missing from the bucket although release ${recorded.version} was published: restore the bucket (it is versioned) before publishing`);
    return undefined;
  }
  const manifest = await readJson(objects, catalog.value.latest_manifest, (v) => Manifest.parse(v));
  if (!manifest) throw conflict('release_integrity', `catalog.json names ${catalog.value.latest_manifest}, which is missing: restore it before publishing`);
  // Chain only onto the manifest that was really published. (A publish that stopped between writing the
  // catalog and recording its hash left a manifest that chains onto the recorded one: accept that.)
  const actual = sha256Hex(manifest.bytes);
  const intact = !recorded
    ? true
    : recorded.version === catalog.value.latest
      ? recorded.manifest_sha256 === actual
      : manifest.value.previous_version === recorded.version && manifest.value.previous_manifest_sha256 === recorded.manifest_sha256;
  if (!intact) {
    throw conflict('release_integrity', `the manifest of release ${catalog.value.latest} in the bucket is not the one that was published (recorded ${recorded!.version} sha256 ${recorded!.manifest_sha256}): restore it from the bucket's versions before publishing`);
  }
  const base = catalog.value.latest_manifest.replace(/manifest\.json$/, '');
  const index: PreviousRelease['index'] = new Map();
  for (const res of manifest.value.resources) {
    if (res.format !== 'ndjson' || !(RECORD_TABLES as readonly string[]).includes(res.table)) continue;
    const bytes = await objects.get(base + res.path);
    if (!bytes) throw conflict('release_integrity', `the previous release lacks ${base + res.path}: restore it before publishing`);
    const lines = createInterface({ input: Readable.from([bytes]).pipe(createGunzip()), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      const r = JSON.parse(line) as { id: string; revision: number; first_published: string };
      index.set(r.id, { table: res.table, revision: r.revision, first_published: r.first_published });
    }
  }
  return { version: catalog.value.latest, manifestBytes: manifest.bytes, catalog: catalog.value, index };
}

async function fileFacts(path: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { bytes: (await stat(path)).size, sha256: hash.digest('hex') };
}

const contentTypeOf = (path: string): string =>
  path.endsWith('.parquet')
    ? 'application/vnd.apache.parquet'
    : path.endsWith('.gz')
      ? 'application/gzip'
      : path.endsWith('.schema.json')
        ? 'application/schema+json'
        : path.endsWith('.json')
          ? 'application/json'
          : 'text/plain; charset=utf-8';

/** Makes latest/ hold exactly `files` (paths relative to a release folder), then removes anything else there. */
async function writeLatest(objects: ObjectStore, files: ReadonlyArray<{ path: string; read: () => Promise<Uint8Array> }>, assertLease: () => void): Promise<void> {
  for (const f of files) {
    assertLease();
    await objects.put(`latest/${f.path}`, await f.read(), { contentType: contentTypeOf(f.path), cacheControl: MUTABLE });
  }
  const keep = new Set(files.map((f) => `latest/${f.path}`));
  for await (const key of objects.list('latest/')) if (!keep.has(key)) await objects.delete(key);
}

/**
 * latest/ must be the catalog's latest release. A publish that failed after refreshing latest/ but
 * before writing the catalog leaves it holding a release that was never published (perhaps with a
 * record retracted since): copy the catalog's release back over it.
 */
async function repairLatest(objects: ObjectStore, previous: PreviousRelease, assertLease: () => void, progress: (m: string) => void): Promise<void> {
  const current = await objects.get('latest/manifest.json');
  if (current && Buffer.compare(Buffer.from(current), Buffer.from(previous.manifestBytes)) === 0) return;
  const base = `releases/${previous.version}/`;
  const sums = await objects.get(`${base}SHA256SUMS`);
  if (!sums) throw conflict('release_integrity', `${base}SHA256SUMS is missing: restore release ${previous.version} before publishing`);
  const paths = [...Buffer.from(sums).toString('utf8').matchAll(/^[0-9a-f]{64} {2}(.+)$/gm)].map((m) => m[1]!);
  progress(`latest/ does not match release ${previous.version}: restoring it`);
  await writeLatest(
    objects,
    [...paths, 'SHA256SUMS'].map((path) => ({
      path,
      read: async () => {
        const body = await objects.get(base + path);
        if (!body) throw conflict('release_integrity', `${base}${path} is missing: restore release ${previous.version} before publishing`);
        return body;
      },
    })),
    assertLease,
  );
}

/** Removes release folders that no catalog lists: what publishes that failed part-way left behind. */
async function deleteOrphans(objects: ObjectStore, released: ReadonlySet<string>, progress: (m: string) => void): Promise<void> {
  const orphans: string[] = [];
  for await (const key of objects.list('releases/')) {
    const version = key.split('/')[1] ?? '';
    if (!released.has(version)) orphans.push(key);
  }
  for (const key of orphans) await objects.delete(key);
  if (orphans.length > 0) progress(`removed ${orphans.length} objects of releases that were never published`);
}

/**
 * Publishes a release (PUBLISHING.md): under a lease, streams every head from the store, keeps the
 * approved, unretracted records in their redacted public form, computes the changes against the
 * previous release, refuses the release if a quality gate fails, then writes the release folder
 * (immutable, If-None-Match), then `latest/`, then `catalog.json` last. Nothing changed → nothing written.
 */
export async function publishRelease(deps: PublishDeps, opts: PublishOptions = {}): Promise<PublishResult> {
  const owner = randomUUID();
  const ttl = opts.leaseTtlMs ?? 10 * 60_000;
  if (!(await deps.leases.acquire(PUBLISH_LEASE, owner, ttl, deps.clock.now()))) {
    throw conflict('publish_in_progress', 'another publish is running: try again when it has finished');
  }
  let leaseLost = false;
  const renewal = setInterval(() => {
    deps.leases.renew(PUBLISH_LEASE, owner, ttl, deps.clock.now()).then(
      (ok) => (leaseLost ||= !ok),
      () => (leaseLost = true),
    );
  }, ttl / 3);
  renewal.unref();
  const work = await mkdtemp(join(tmpdir(), 'ledger-publish-'));
  const assertLease = () => {
    if (leaseLost) throw new Error('the publish lease was lost (another publisher took over after it expired): this publish stops before writing more');
  };
  try {
    return await build(deps, opts, work, assertLease);
  } finally {
    clearInterval(renewal);
    await deps.leases.release(PUBLISH_LEASE, owner).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

async function build(deps: PublishDeps, opts: PublishOptions, work: string, assertLease: () => void): Promise<PublishResult> {
  const progress = opts.onProgress ?? (() => undefined);
  const started = deps.clock.now();
  const previous = await readPrevious(deps.objects, deps.releases);
  let version = nextReleaseId(started, previous?.version);
  // A publish that failed part-way may have left objects under its release id: never reuse that id (a
  // cache may hold them), then remove what it left, which was never published, and put latest/ right.
  for (;;) {
    const leftovers = deps.objects.list(`releases/${version}/`)[Symbol.asyncIterator]();
    if ((await leftovers.next()).done) break;
    version = nextReleaseId(parseReleaseId(version), version);
  }
  assertLease();
  await deleteOrphans(deps.objects, new Set(previous?.catalog.versions.map((v) => v.version) ?? []), progress);
  if (previous) await repairLatest(deps.objects, previous, assertLease, progress);

  const out = join(work, 'release');
  const rowsDir = join(work, 'rows');
  await mkdir(join(out, 'json'), { recursive: true });
  await mkdir(join(out, 'schema'), { recursive: true });
  await mkdir(rowsDir, { recursive: true });
  const flat = Object.fromEntries(TABLE_NAMES.map((t) => [t, LineSink.plain(join(rowsDir, `${t}.ndjson`))])) as Record<TableName, LineSink>;
  const nested = Object.fromEntries(TABLE_NAMES.map((t) => [t, LineSink.gzip(join(out, 'json', `${t}.ndjson.gz`))])) as Record<TableName, LineSink>;
  const closeSinks = () => Promise.all([...Object.values(flat), ...Object.values(nested)].map((s) => s.close()));

  const current = new Map<string, { table: TableName; revision: number }>();
  const retracted = new Map<string, string>();
  // Who cites each id (up to 20 each, to name them if the id turns out missing from the release).
  const referenced = new Map<string, { target: string; from: Array<{ id: string; pointer: string }> }>();
  const tolls: TollBar[] = [];
  const unmarked: Array<{ id: string; release: string }> = [];
  const emit = async (table: TableName, rec: Record<string, unknown>) => {
    await nested[table].write(JSON.stringify(rec));
    await flat[table].write(JSON.stringify(flatRow(rec, TABLES[table])));
  };
  const changes: ChangeRow[] = [];
  let scanned = 0;
  try {
    for await (const page of deps.records.scanHeads(opts.scanSegments ?? 4)) {
      for (const head of page) {
        if (head.retracted) {
          retracted.set(head.id, head.retraction?.reason ?? 'retracted');
          continue;
        }
        const pub: PublicRecord | undefined = publicRecord(head, previous?.index.get(head.id)?.first_published ?? version);
        if (!pub) continue;
        const table = KIND_TABLE[pub.kind];
        await emit(table, pub);
        if (pub.kind === 'event') for (const actor of (pub.actors as object[] | undefined) ?? []) await emit('event_actors', { event_id: pub.id, ...actor });
        // Country-wide death tolls for the landing page's chart; a claim about one province or town is left out.
        if (pub.kind === 'claim' && pub.metric === 'killed' && pub.population === 'all' && !(pub.area as { admin1?: string } | undefined)?.admin1 && tolls.length < 40) {
          const v = pub.value as { low?: number; best?: number; high?: number };
          const value = v.best ?? v.low ?? v.high;
          const period = pub.period_end && pub.period_end !== pub.period_start ? `${pub.period_start} – ${pub.period_end}` : `from ${pub.period_start}`;
          if (value !== undefined) tolls.push({ claimant: pub.claimant as string, value, qualifier: pub.qualifier as string, period });
        }
        current.set(pub.id, { table, revision: pub.revision });
        if (head.first_published !== pub.first_published) unmarked.push({ id: pub.id, release: pub.first_published });
        for (const ref of listReferences(pub as unknown as LedgerRecord)) {
          const entry = referenced.get(ref.id) ?? { target: ref.target, from: [] };
          if (entry.from.length < 20) entry.from.push({ id: pub.id, pointer: ref.pointer });
          referenced.set(ref.id, entry);
        }
      }
      scanned += page.length;
      progress(`read ${scanned} records`);
    }

    for (const [id, cur] of current) {
      const before = previous?.index.get(id);
      if (!before) changes.push({ op: 'add', table_name: cur.table as ChangeRow['table_name'], id, revision: cur.revision, previous_revision: null, reason: null });
      else if (before.revision !== cur.revision) changes.push({ op: 'modify', table_name: cur.table as ChangeRow['table_name'], id, revision: cur.revision, previous_revision: before.revision, reason: null });
    }
    for (const [id, before] of previous?.index ?? []) {
      if (!current.has(id)) changes.push({ op: 'delete', table_name: before.table as ChangeRow['table_name'], id, revision: null, previous_revision: before.revision, reason: retracted.get(id) ?? null });
    }
    if (changes.length === 0) {
      await closeSinks();
      await deps.records.markFirstPublished(unmarked);
      return { published: false, reason: 'no changes' };
    }
    checkQualityGates(current, referenced, changes, previous, opts.maxDropShare ?? 0.01);
    changes.sort((a, b) => (a.table_name + a.id < b.table_name + b.id ? -1 : 1));
    for (const c of changes) await emit('changes', c as unknown as Record<string, unknown>);
  } finally {
    await closeSinks();
  }

  // Parquet, one or more parts per table, through DuckDB.
  const parquet = await deps.openParquetWriter();
  const parts: Record<string, string[]> = {};
  try {
    for (const t of TABLE_NAMES) {
      await mkdir(join(out, 'tables', t), { recursive: true });
      const orderBy = t === 'event_actors' ? ['event_id', 'name'] : t === 'changes' ? ['table_name', 'id'] : ['id'];
      parts[t] = await parquet.write(TABLES[t], join(rowsDir, `${t}.ndjson`), join(out, 'tables', t, 'part'), { partRows: opts.partRows ?? 1_000_000, orderBy });
      progress(`wrote ${t} (${flat[t].rows} rows)`);
    }
  } finally {
    await parquet.close();
  }
  for (const kind of RECORD_KINDS) await writeFile(join(out, 'schema', `${kind}.schema.json`), JSON.stringify(recordJsonSchema(kind), null, 2) + '\n');

  // The manifest: exact bytes, hashes and rows for every resource.
  const resources: ManifestResource[] = [];
  const files: Array<{ path: string; sha256: string }> = [];
  const partRows = opts.partRows ?? 1_000_000;
  for (const t of TABLE_NAMES) {
    const n = parts[t]!.length;
    for (const [i, file] of parts[t]!.entries()) {
      const path = `tables/${t}/part-${String(i).padStart(5, '0')}.parquet`;
      const facts = await fileFacts(file);
      const rows = i < n - 1 ? partRows : flat[t].rows - partRows * (n - 1);
      resources.push({ name: i === 0 ? t : `${t}-part-${String(i).padStart(5, '0')}`, format: 'parquet', mediatype: 'application/vnd.apache.parquet', path, table: t, bytes: facts.bytes, hash: `sha256:${facts.sha256}`, rows, schema: tableSchema(TABLES[t]) });
      files.push({ path, sha256: facts.sha256 });
    }
  }
  for (const t of TABLE_NAMES) {
    const path = `json/${t}.ndjson.gz`;
    const facts = await fileFacts(join(out, path));
    resources.push({ name: `${t}-json`, format: 'ndjson', mediatype: 'application/x-ndjson', compression: 'gzip', path, table: t, bytes: facts.bytes, hash: `sha256:${facts.sha256}`, rows: nested[t].rows });
    files.push({ path, sha256: facts.sha256 });
  }
  for (const kind of RECORD_KINDS) {
    const path = `schema/${kind}.schema.json`;
    files.push({ path, sha256: (await fileFacts(join(out, path))).sha256 });
  }
  const record_counts = Object.fromEntries(TABLE_NAMES.map((t) => [t, flat[t].rows])) as Record<TableName, number>;
  const changeCounts = { add: 0, modify: 0, delete: 0 };
  for (const c of changes) changeCounts[c.op]++;
  const created = deps.clock.now().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const manifest: Manifest = {
    $schema: 'https://datapackage.org/profiles/2.0/datapackage.json',
    name: deps.info.datasetName,
    title: TITLE,
    version,
    created,
    previous_version: previous?.version ?? null,
    previous_manifest_sha256: previous ? sha256Hex(previous.manifestBytes) : null,
    licenses: [{ name: 'CC-BY-4.0', path: 'https://creativecommons.org/licenses/by/4.0/', title: 'Creative Commons Attribution 4.0' }],
    record_counts,
    changes: changeCounts,
    resources,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
  await writeFile(join(out, 'manifest.json'), manifestBytes);
  files.push({ path: 'manifest.json', sha256: sha256Hex(manifestBytes) });
  const sums = [...files].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => `${f.sha256}  ${f.path}\n`).join('');
  await writeFile(join(out, 'SHA256SUMS'), sums);
  files.push({ path: 'SHA256SUMS', sha256: sha256Hex(sums) });

  // 1. The release folder, never overwriting anything; manifest and SHA256SUMS last.
  for (const f of files) {
    assertLease();
    await deps.objects.put(`releases/${version}/${f.path}`, await readFile(join(out, f.path)), { contentType: contentTypeOf(f.path), ifNoneMatch: true, cacheControl: IMMUTABLE });
  }
  progress(`wrote releases/${version}/ (${files.length} objects)`);
  // 2. latest/: the same tree, then stale parts of an older, larger release removed.
  await writeLatest(deps.objects, files.map((f) => ({ path: f.path, read: () => readFile(join(out, f.path)) })), assertLease);
  // 3. Pointers for people and for Athena, then the catalog, last.
  const catalog: Catalog = {
    name: deps.info.datasetName,
    latest: version,
    latest_manifest: `releases/${version}/manifest.json`,
    versions: [{ version, created, manifest: `releases/${version}/manifest.json`, record_counts }, ...(previous?.catalog.versions ?? [])],
  };
  assertLease();
  await deps.objects.put('athena/tables.sql', Buffer.from(athenaDdl(deps.info.bucketName)), { contentType: 'application/sql; charset=utf-8', cacheControl: MUTABLE });
  await deps.objects.put('index.html', Buffer.from(landingPage(catalog, tolls, TITLE)), { contentType: 'text/html; charset=utf-8', cacheControl: MUTABLE });
  await deps.objects.put('catalog.json', Buffer.from(JSON.stringify(catalog, null, 2) + '\n'), { contentType: 'application/json', cacheControl: 'no-cache' });
  await deps.releases.setLatest(version, sha256Hex(manifestBytes));
  // For GET /records: the release each new record first appeared in (also heals any left unmarked).
  await deps.records.markFirstPublished(unmarked);
  progress(`published ${version}: ${changes.length} changes`);
  return { published: true, version, manifest: `${deps.info.publicBaseUrl}/releases/${version}/manifest.json`, record_counts, changes: changeCounts };
}

/**
 * Quality gates: a release with a dangling reference, or one that loses more than `maxDropShare` of a
 * table's rows without matching retractions, is refused with the reasons (409 quality_gate_failed).
 */
function checkQualityGates(
  current: Map<string, { table: TableName }>,
  referenced: Map<string, { target: string; from: Array<{ id: string; pointer: string }> }>,
  changes: ChangeRow[],
  previous: PreviousRelease | undefined,
  maxDropShare: number,
): void {
  const problems: Array<{ path: string; code: string; message: string }> = [];
  for (const [id, ref] of referenced) {
    const hit = current.get(id);
    if (!hit || hit.table !== KIND_TABLE[ref.target as keyof typeof KIND_TABLE]) {
      for (const from of ref.from) {
        problems.push({ path: `/${from.id}${from.pointer}`, code: 'dangling_reference', message: `${from.id} refers to ${ref.target} "${id}", which would not be in the release (not approved, or retracted): approve it, or correct or retract ${from.id}` });
      }
    }
  }
  for (const t of RECORD_TABLES) {
    const before = [...(previous?.index.values() ?? [])].filter((r) => r.table === t).length;
    const unexplained = changes.filter((c) => c.table_name === t && c.op === 'delete' && c.reason === null).length;
    if (before > 0 && unexplained / before > maxDropShare) {
      problems.push({ path: `/${t}`, code: 'unexplained_drop', message: `${unexplained} of ${before} ${t} rows would vanish without a retraction (more than ${Math.round(maxDropShare * 100)}%): check the store before publishing` });
    }
  }
  if (problems.length > 0) throw new LedgerError(409, 'quality_gate_failed', `the release was refused: ${problems.length} problem(s); nothing was published`, problems);
}
