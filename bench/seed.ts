/**
 * Seeds what the incremental benchmarks (ids 4, 5, 8 and the fan-out) start from: a committed release
 * of N records and a 1% change waiting in the change index. DynamoDB Local writes only ~2–3 k items/s
 * and scans well under 1,000 heads/s, so N records are not submitted one by one. Exactly:
 *
 * 1. The N records come from bench/records.ts's generator (seed 20260301, the realistic mix: 10%
 *    sources, 45% events, 15% claims, 30% persons, Persian text), streamed one at a time. Each is made
 *    an approved revision-1 head, as an editor's submission would be (`approved_updated_at` two days
 *    ago), redacted and flattened by the pipeline's own `publicRecord` and `flatRow` into the files the
 *    publisher's read step writes (`<table>.ndjson`, `touched.ndjson`). A sample of 400 records is also
 *    run through `validateRecord`, and their rows must equal those of the raw records.
 * 2. The real `DuckDbReleaseBuilder` builds the release from those files as a full rebuild with no
 *    previous release (all 6 tables, Parquet parts and gzip NDJSON, `changes` = N adds); the real
 *    `finishRelease` writes schemas, manifest (exact bytes and SHA-256) and SHA256SUMS; `uploadRelease`
 *    puts it under `releases/<id>/` with If-None-Match; `changes.advanceCut()` gives its cut;
 *    `commitCatalog` writes catalog.json and the release state (prepared, then committed with the cut
 *    and the current `RELEASE_RULES`, so the next publish may build on it);
 *    `afterCommit` writes index.html, the Athena DDL and latest/, and records `latest_synced`. The
 *    seeded release is in every respect one the publisher made (the commit also enters it in the
 *    store's release history; no item per record is written, as by the publisher).
 * 3. The store holds only the records the change touches, at revision 1 as in the release (the items
 *    the store's own writeRevision transaction holds: head, revision, listing entry, captured and
 *    written by BatchWriteItem; one record written by the store itself is read back and compared; no
 *    change marks: they are older than the cut). The other 99% exist
 *    only in the release's Parquet: an incremental or no-change publish never reads them from the store
 *    (a full rebuild would, which is why id 3 loads its store in full instead).
 * 4. (`submitChange`, run after benchmark 5 has timed publishes with nothing changed on the state of
 *    step 3.) The 1% change, after the cut, through the real use cases on the real store (each write
 *    one TransactWriteItems with its change mark and the fence check): 95% of it is `ingestRecords` by an
 *    editor of generator records (seed 20260302), of which 4 in 5 replace an existing record of the
 *    same kind (revision 2, new content) and 1 in 5 is a new record (ids past the N); their references
 *    point at records of the release or of the same change. The store answers reference look-ups for
 *    release records it does not hold with an approved stub head (read-only, never written). The other
 *    5% are `retractRecord` of persons (nothing refers to a person).
 * The next publish must report exactly those adds, modifies and deletes, and nothing deferred.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson, changedFields, sha256Hex } from '../pipeline/canonical.ts';
import { ingestRecords } from '../pipeline/ingest-records.ts';
import { LineSink } from '../pipeline/line-sink.ts';
import { systemClock, type AuditEntry, type Principal, type RecordHead, type RecordStore, type RevisionEntry, type StoredContent, type WriteOptions } from '../pipeline/ports.ts';
import { commitCatalog, afterCommit } from '../pipeline/publish/commit-release.ts';
import { RELEASE_RULES } from '../pipeline/publish/rules.ts';
import { finishRelease, uploadRelease } from '../pipeline/publish/write-release.ts';
import { flatRow, nextReleaseId } from '../pipeline/publish-release.ts';
import { publicRecord } from '../pipeline/redact.ts';
import { retractRecord } from '../pipeline/review-record.ts';
import type { RecordKind } from '../schemas/records.ts';
import { KIND_TABLE, TABLES } from '../schemas/tables.ts';
import { validateRecord } from '../schemas/validate-record.ts';
import { generateRecords, mixFor, recordStream, type RecordCounts } from './records.ts';
import { batchWrite, benchContext, checkItemShape, fmt, pool, storeItems, type BenchContext, type Endpoints, type Log } from './support.ts';

export const EDITOR: Principal = { keyId: 'key_bench_editor', role: 'editor' };
const BASE_SEED = 20260301;
const CHANGE_SEED = 20260302;

const PREFIX: Record<RecordKind, string> = { source: 'src', event: 'evt', claim: 'clm', person: 'per' };
const KIND_OF: Record<string, RecordKind> = { src: 'source', evt: 'event', clm: 'claim', per: 'person' };
const COUNT_OF: Record<RecordKind, keyof RecordCounts> = { source: 'sources', event: 'events', claim: 'claims', person: 'persons' };
const benchId = (kind: RecordKind, index: number) => `${PREFIX[kind]}-bench-${String(index).padStart(7, '0')}`;
function parseId(id: string): { kind: RecordKind; index: number } | undefined {
  const m = /^(src|evt|clm|per)-bench-(\d{7})$/.exec(id);
  return m ? { kind: KIND_OF[m[1]!]!, index: Number(m[2]) } : undefined;
}

/** What the seeded change does, and so what the next publish must report. */
export interface ChangePlan {
  /** Generator records of the change, ids remapped onto the release (modified) or past it (added). */
  records: Array<Record<string, unknown>>;
  modified: Set<string>;
  added: Set<string>;
  retracted: string[];
}

export interface Seeded {
  bench: BenchContext;
  n: number;
  counts: RecordCounts;
  /** The seeded (previous) release. */
  version: string;
  /** When its records were approved (ISO). */
  at: string;
  plan: ChangePlan;
  expected: { add: number; modify: number; delete: number };
  /** Seconds per seeding step. */
  timings: Record<string, number>;
}

/** The approved revision-1 head an editor's submission of `content` makes. */
export function approvedHead(content: StoredContent, at: string): { head: RecordHead; revision: RevisionEntry } {
  const hash = sha256Hex(canonicalJson(content));
  const head: RecordHead = {
    version: 1,
    id: content.id,
    kind: content.kind,
    revision: 1,
    review_status: 'approved',
    content,
    content_sha256: hash,
    submitted_by: EDITOR.keyId,
    created_at: at,
    updated_at: at,
    submitters: [EDITOR.keyId],
    approved_revision: 1,
    approved: content,
    approved_updated_at: at,
    retracted: false,
  };
  const revision: RevisionEntry = { id: content.id, kind: content.kind, revision: 1, content, content_sha256: hash, submitted_by: EDITOR.keyId, submitted_at: at, review_status: 'approved', changed_fields: changedFields(undefined, content) };
  return { head, revision };
}

/** The 1% change of a release of `counts` records (see the file's header). */
export function planChange(counts: RecordCounts, n: number): ChangePlan {
  const total = Math.max(6, Math.round(n * 0.01));
  const retractCount = Math.max(1, Math.round(total * 0.05));
  const small = generateRecords(mixFor(total - retractCount), CHANGE_SEED);
  const smallCounts = mixFor(total - retractCount);
  const modified = new Set<string>();
  const added = new Set<string>();
  const remap = (id: string): string => {
    const p = parseId(id);
    if (!p) throw new Error(`unexpected generator id ${id}`);
    const base = counts[COUNT_OF[p.kind]];
    const small = smallCounts[COUNT_OF[p.kind]];
    // 4 in 5 land on an existing record, spread over the whole id range; 1 in 5 past the release.
    return p.index % 5 === 4 ? benchId(p.kind, base + p.index) : benchId(p.kind, Math.floor((p.index * base) / small));
  };
  const records = small.map((rec) => {
    const out: Record<string, unknown> = { ...rec, id: remap(rec.id as string) };
    if (Array.isArray(rec.source_ids)) out.source_ids = (rec.source_ids as string[]).map(remap);
    if (Array.isArray(rec.event_ids)) out.event_ids = (rec.event_ids as string[]).map(remap);
    if (typeof rec.event_id === 'string') out.event_id = remap(rec.event_id);
    (parseId(out.id as string)!.index >= counts[COUNT_OF[rec.kind as RecordKind]] ? added : modified).add(out.id as string);
    return out;
  });
  const retracted: string[] = [];
  for (let j = 0; j < retractCount; j++) {
    let index = Math.floor(((j + 0.5) * counts.persons) / retractCount);
    while (modified.has(benchId('person', index)) || retracted.includes(benchId('person', index))) index = (index + 1) % counts.persons;
    retracted.push(benchId('person', index));
  }
  return { records, modified, added, retracted };
}

/**
 * The store as the change's use cases see it: the real one, plus an approved stub head for any record
 * of the release it does not hold, so that reference checks pass as they would on a full store. Stubs
 * are only read: every record the change writes has its real head (or none, when it is new).
 */
class SeededStore implements RecordStore {
  constructor(
    private readonly inner: RecordStore,
    private readonly counts: RecordCounts,
    private readonly at: string,
  ) {}
  private stub(id: string): RecordHead | undefined {
    const p = parseId(id);
    if (!p || p.index >= this.counts[COUNT_OF[p.kind]]) return undefined;
    const content = { id, kind: p.kind } as unknown as StoredContent;
    return { version: 1, id, kind: p.kind, revision: 1, review_status: 'approved', content, content_sha256: '', submitted_by: EDITOR.keyId, created_at: this.at, updated_at: this.at, submitters: [EDITOR.keyId], approved_revision: 1, approved: content, approved_updated_at: this.at, retracted: false };
  }
  async getHead(id: string) {
    return (await this.inner.getHead(id)) ?? this.stub(id);
  }
  async getHeads(ids: ReadonlyArray<string>) {
    const found = await this.inner.getHeads(ids);
    for (const id of ids) {
      const s = found.has(id) ? undefined : this.stub(id);
      if (s) found.set(id, s);
    }
    return found;
  }
  writeRevision(head: RecordHead, revision: RevisionEntry, opts: WriteOptions, previous?: RecordHead) {
    return this.inner.writeRevision(head, revision, opts, previous);
  }
  updateHead(head: RecordHead, audit: AuditEntry, opts: WriteOptions, previous?: RecordHead) {
    return this.inner.updateHead(head, audit, opts, previous);
  }
  listRevisions(id: string) {
    return this.inner.listRevisions(id);
  }
  ping() {
    return this.inner.ping();
  }
  listAudit(id: string) {
    return this.inner.listAudit(id);
  }
  scanHeads(segments: number) {
    return this.inner.scanHeads(segments);
  }
  isEmpty() {
    return this.inner.isEmpty();
  }
}

/** Seeds a committed release of `n` records on a fresh table and bucket, and plans its 1% change (steps 1–3 of the file's header; {@link submitChange} is step 4). */
export async function seedRelease(endpoints: Endpoints, n: number, work: string, log: Log): Promise<Seeded> {
  const timings: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    timings[name] = (now - t) / 1000;
    t = now;
    return timings[name]!;
  };
  const bench = await benchContext(endpoints, `seed${n}`, { patient: true });
  const { ctx } = bench;
  const counts = mixFor(n);
  const plan = planChange(counts, n);
  const touchedIds = new Set([...plan.modified, ...plan.retracted]);
  // The release was made yesterday, from records approved the day before.
  const at = new Date(Date.now() - 2 * 86400_000).toISOString();
  const releasedAt = new Date(Date.now() - 86400_000);
  const version = nextReleaseId(releasedAt, undefined);
  const dirs = { changes: join(work, 'rows'), release: join(work, 'release'), duck: join(work, 'duckdb') };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });

  // 1. The release's rows, as the read step of a full rebuild would write them.
  const sinks = new Map(['sources', 'events', 'claims', 'persons', 'event_actors', 'touched'].map((f) => [f, LineSink.plain(join(dirs.changes, `${f}.ndjson`))]));
  const captured: Array<{ head: RecordHead; revision: RevisionEntry }> = [];
  const sampleEvery = Math.max(1, Math.floor(n / 400));
  let i = 0;
  for (const raw of recordStream(counts, BASE_SEED)) {
    const sampled = i++ % sampleEvery === 0;
    const id = raw.id as string;
    let content = raw as unknown as StoredContent;
    if (sampled || touchedIds.has(id)) {
      const v = validateRecord(raw);
      if (!v.ok) throw new Error(`the generator made an invalid record ${id}: ${JSON.stringify(v.errors).slice(0, 300)}`);
      const { expected_revision: _e, ...stored } = v.record;
      content = stored as StoredContent;
      if (sampled) {
        const rowOf = (c: StoredContent) => canonicalJson(flatRow(publicRecord(approvedHead(c, at).head, null)!, TABLES[KIND_TABLE[c.kind]]));
        if (rowOf(content) !== rowOf(raw as unknown as StoredContent)) throw new Error(`${id}: the validated record publishes other values than the generated one`);
      }
    }
    const made = approvedHead(content, at);
    if (touchedIds.has(id)) captured.push(made);
    const table = KIND_TABLE[made.head.kind];
    const pub = publicRecord(made.head, null)!;
    await sinks.get('touched')!.write(JSON.stringify({ id, table_name: table, reason: null }));
    await sinks.get(table)!.write(JSON.stringify(flatRow(pub, TABLES[table])));
    if (made.head.kind === 'event') {
      for (const [pos, actor] of ((pub.actors as object[] | undefined) ?? []).entries()) {
        await sinks.get('event_actors')!.write(JSON.stringify({ ...flatRow({ event_id: id, ...actor }, TABLES.event_actors), __pos: pos }));
      }
    }
    if (i % 200_000 === 0) log(`seed ${fmt(n)}: generated ${fmt(i)} records …`);
  }
  await Promise.all([...sinks.values()].map((s) => s.close()));
  if (captured.length !== touchedIds.size) throw new Error(`seed: ${captured.length} of the ${touchedIds.size} records to change were generated`);
  log(`seed ${fmt(n)}: ${fmt(n)} records generated, redacted and flattened in ${lap('generate').toFixed(1)} s`);

  // 2. The release, built, written and committed by the pipeline's own steps.
  const builder = await ctx.openReleaseBuilder({ tempDirectory: dirs.duck });
  let built;
  try {
    built = await builder.build({ version, full: true, carryPrevious: false, changesDir: dirs.changes, outDir: dirs.release, partRows: 1_000_000, maxDropShare: ctx.publishing.maxDropShare });
  } finally {
    await builder.close();
  }
  if (built.problems.length > 0 || built.deferred.length > 0 || built.changes.add !== n) throw new Error(`seed: the build found ${built.problems.length} problems, ${built.deferred.length} deferred, ${built.changes.add} adds of ${n}`);
  log(`seed ${fmt(n)}: built in DuckDB in ${lap('build').toFixed(1)} s`);
  const folder = await finishRelease(dirs.release, built, { datasetName: ctx.info.datasetName, version, created: releasedAt.toISOString().replace(/\.\d{3}Z$/, 'Z') });
  await uploadRelease(ctx.objects, folder, () => undefined, () => undefined);
  log(`seed ${fmt(n)}: release ${version} finished and uploaded in ${lap('upload').toFixed(1)} s`);
  const state = { version, manifest_sha256: sha256Hex(folder.manifestBytes), cut: await ctx.changes.advanceCut(), latest_synced: false, rules: RELEASE_RULES };
  const catalog = await commitCatalog(ctx.objects, ctx.releases, folder, state, undefined, ctx.info.datasetName, () => undefined);
  await afterCommit(ctx.objects, ctx.releases, catalog, folder, state, built, { bucketName: ctx.info.bucketName }, () => undefined);
  await rm(work, { recursive: true, force: true });
  log(`seed ${fmt(n)}: committed (catalog, release state with cut, latest/) in ${lap('commit').toFixed(1)} s`);

  // 3. The records the change touches, at revision 1 as in the release (one through the store, as the check).
  const [first, ...rest] = captured;
  await checkItemShape(ctx.dynamodb, bench.tableName, ctx.records, first!.head, first!.revision);
  await batchWrite(ctx.dynamodb, bench.tableName, (await Promise.all(rest.map((c) => storeItems(c.head, c.revision)))).flat(), 16);
  log(`seed ${fmt(n)}: ${fmt(captured.length)} heads the change touches stored in ${lap('store').toFixed(1)} s`);
  return { bench, n, counts, version, at, plan, expected: { add: plan.added.size, modify: plan.modified.size, delete: plan.retracted.length }, timings };
}

/** Submits the seeded release's 1% change through the use cases, after its cut (step 4 of the file's header). */
export async function submitChange(seeded: Seeded, log: Log): Promise<void> {
  const { ctx } = seeded.bench;
  const { plan, n } = seeded;
  const t0 = performance.now();
  const store = new SeededStore(ctx.records, seeded.counts, seeded.at);
  for (let b = 0; b < plan.records.length; b += 1000) {
    const chunk = plan.records.slice(b, b + 1000);
    const out = await ingestRecords(chunk, EDITOR, { records: store, clock: systemClock });
    const wrong = out.results.find((r) => r.status !== (plan.added.has(r.id!) ? 'created' : 'updated'));
    if (wrong) throw new Error(`seed: the change's submission answered ${JSON.stringify(wrong).slice(0, 400)}`);
  }
  await pool(plan.retracted, 16, async (id) => {
    await retractRecord('person', id, 'benchmark: retracted', EDITOR, { records: ctx.records, changes: ctx.changes, clock: systemClock });
  });
  seeded.timings.change = (performance.now() - t0) / 1000;
  log(`seed ${fmt(n)}: change submitted (${plan.modified.size} modified, ${plan.added.size} added, ${plan.retracted.length} retracted) in ${seeded.timings.change.toFixed(1)} s`);
}
