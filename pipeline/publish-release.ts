import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from './canonical.ts';
import { LedgerError } from './errors.ts';
import { MARK_RETENTION_MS, type ChangeLog, type Clock, type LeaseStore, type ObjectStore, type RecordStore, type ReleaseBuilder, type ReleaseState, type ReleaseStateStore } from './ports.ts';
import { afterCommit, commitCatalog, deleteOrphans, repairLatest } from './publish/commit-release.ts';
import { PublishLease } from './publish/lease.ts';
import { lockRelease, type ReleaseLock } from './publish/lock-release.ts';
import { downloadParts, readPrevious } from './publish/previous-release.ts';
import { readChanges } from './publish/read-changes.ts';
import { RELEASE_RULES } from './publish/rules.ts';
import { finishRelease, uploadRelease } from './publish/write-release.ts';

export { PUBLISH_LEASE } from './publish/lease.ts';
export { flatRow } from './publish/read-changes.ts';

export interface PublishDeps {
  records: RecordStore;
  changes: ChangeLog;
  leases: LeaseStore;
  releases: ReleaseStateStore;
  objects: ObjectStore;
  clock: Clock;
  openReleaseBuilder: (opts: { tempDirectory: string }) => Promise<ReleaseBuilder>;
  /** `athenaDatabase`: the Glue database that athena/tables.sql names (default rights_ledger). */
  info: { datasetName: string; publicBaseUrl: string; bucketName: string; athenaDatabase?: string };
  /** S3 Object Lock on every object of a committed release (LEDGER_OBJECT_LOCK_MODE, LEDGER_OBJECT_LOCK_YEARS); absent: none. */
  objectLock?: ReleaseLock;
}

export interface PublishOptions {
  /** Rebuild every table from the store's heads (POST /publish {"full": true}); also chosen when the change index cannot answer. */
  full?: boolean;
  /** Share of a table's rows (0..1) that may vanish without matching retractions before a release is refused. */
  maxDropShare?: number;
  /** The lease's lifetime: a crashed publisher blocks others for at most this long. */
  leaseTtlMs?: number;
  scanSegments?: number;
  /** Rows per Parquet part before a table is split (default 1,000,000). */
  partRows?: number;
  /** Rows sorted at a time when a table is written (BuildInput.chunkRows). */
  chunkRows?: number;
  /** Where the work folder goes (default: the OS temp dir; /tmp on Lambda). */
  workDir?: string;
  onProgress?: (message: string) => void;
}

export type Deferred = Array<{ id: string; reason: string }>;

export type PublishResult =
  | { published: true; version: string; manifest: string; record_counts: Record<string, number>; changes: Record<'add' | 'modify' | 'delete', number>; deferred: Deferred }
  | { published: false; reason: string; deferred?: Deferred };

export const DEFAULT_LEASE_TTL_MS = 60_000;
const RECORD_AND_ACTOR_TABLES = ['sources', 'events', 'event_actors', 'claims', 'persons'] as const;

/** The next release id: the start time, or one second after the last release when the clock has not passed it. */
export function nextReleaseId(now: Date, last: string | undefined): string {
  const fmt = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  const id = fmt(now);
  if (!last || id > last) return id;
  return fmt(new Date(parseReleaseId(last).getTime() + 1000));
}

const parseReleaseId = (id: string) => new Date(`${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}Z`);

/**
 * A release folder whose commit failed is public and listable, and may hold records retracted since:
 * the publisher removes what it uploaded itself, at once, while it still holds the lease (objects it
 * wrote with If-None-Match are its own). If it cannot, the next publish removes the folder once it is
 * older than a lease's lifetime.
 */
async function removeUncommitted(objects: ObjectStore, uploaded: readonly string[], version: string, lease: PublishLease): Promise<void> {
  try {
    const catalog = await objects.get('catalog.json');
    if (catalog && (JSON.parse(Buffer.from(catalog).toString('utf8')) as { latest?: string }).latest === version) return; // committed after all
    for (const key of uploaded) {
      lease.assertHeld();
      await objects.delete(key);
    }
  } catch {
    // Best effort: the orphan clean-up of a later publish is the backstop.
  }
}

async function isEmpty<T>(it: AsyncIterable<T[]>): Promise<boolean> {
  for await (const page of it) if (page.length > 0) return false;
  return true;
}

/**
 * Publishes a release (PUBLISHING.md), under a lease, in four steps: read what changed since the last
 * release from the change index (or every head, for a full rebuild) → build the tables in DuckDB from
 * the previous release plus those changes → write the release folder (immutable, If-None-Match) →
 * commit catalog.json (If-Match), then index.html and latest/. With nothing marked since the last
 * release it answers "no changes" after reading only the change index.
 */
export async function publishRelease(deps: PublishDeps, opts: PublishOptions = {}): Promise<PublishResult> {
  const lease = await PublishLease.acquire(deps.leases, deps.clock, opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS);
  try {
    return await publishHeld(deps, opts, lease);
  } finally {
    await lease.release();
  }
}

async function publishHeld(deps: PublishDeps, opts: PublishOptions, lease: PublishLease): Promise<PublishResult> {
  const progress = opts.onProgress ?? (() => undefined);
  const assertHeld = () => lease.assertHeld();
  const started = deps.clock.now();
  const state = await deps.releases.getLatest();
  // From here on no change mark at or below `cut` can still commit: (after, cut] is complete.
  const cut = await deps.changes.advanceCut();
  // Incrementally only from a release built under the same rules, whose marks are all still kept.
  const canIncrement = (s: ReleaseState | undefined): s is ReleaseState & { cut: number } =>
    !opts.full && s?.cut !== undefined && s.rules === RELEASE_RULES && cut - s.cut < MARK_RETENTION_MS - 24 * 3600_000;
  const settled = !state.pending || state.pending.version === state.latest?.version;
  if (settled && canIncrement(state.latest) && state.latest.latest_synced === true && (await isEmpty(deps.changes.read(state.latest.cut, cut)))) {
    // Records still held back stay named until a release can hold them (their reasons are as of the last build: nothing changed since).
    const deferred: Deferred = [];
    for await (const page of deps.changes.listDeferred()) deferred.push(...page.map(({ id, reason }) => ({ id, reason })));
    // The watermark moves on, so that marks never age out under a ledger that rarely changes.
    lease.assertHeld();
    await deps.releases.commit({ ...state.latest, cut }, state.latest.version);
    return { published: false, reason: 'no changes', ...(deferred.length > 0 ? { deferred: deferred.sort((a, b) => (a.id < b.id ? -1 : 1)) } : {}) };
  }

  const found = await readPrevious(deps.objects, deps.releases, state);
  const { previous } = found;
  let committed = found.committed;
  const full = !canIncrement(committed);
  if (previous && committed && committed.latest_synced !== true) {
    // latest/ not refreshed: that publish died after its commit, maybe before its release was locked.
    await lockRelease(deps.objects, deps.objectLock, committed.version, assertHeld, progress);
    committed = await repairLatest(deps.objects, deps.releases, committed, assertHeld, progress);
  }

  let version = nextReleaseId(started, previous?.version);
  // A publish that failed part-way may have left objects under its release id: never reuse that id.
  for (;;) {
    const leftovers = deps.objects.list(`releases/${version}/`)[Symbol.asyncIterator]();
    if ((await leftovers.next()).done) break;
    version = nextReleaseId(parseReleaseId(version), version);
  }
  assertHeld();
  await deleteOrphans(deps.objects, new Set(previous?.catalog.versions.map((v) => v.version) ?? []), new Date(Date.now() - lease.ttlMs), assertHeld, progress);

  const work = await mkdtemp(join(opts.workDir ?? tmpdir(), 'ledger-publish-'));
  try {
    const dirs = { previous: join(work, 'previous'), changes: join(work, 'changes'), release: join(work, 'release'), duck: join(work, 'duckdb') };
    for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
    const parts = previous ? await downloadParts(deps.objects, previous, RECORD_AND_ACTOR_TABLES, dirs.previous) : undefined;
    progress(full ? 'full rebuild: reading every record' : `reading the changes since release ${previous?.version}`);
    const read = await readChanges({ records: deps.records, changes: deps.changes, dir: dirs.changes, after: committed?.cut ?? 0, cut, full, scanSegments: opts.scanSegments ?? 4, progress });

    const builder = await deps.openReleaseBuilder({ tempDirectory: dirs.duck });
    let built;
    try {
      built = await builder.build({ version, full, carryPrevious: committed?.rules === RELEASE_RULES, previous: parts, changesDir: dirs.changes, outDir: dirs.release, partRows: opts.partRows ?? 1_000_000, chunkRows: opts.chunkRows, maxDropShare: opts.maxDropShare ?? 0.01 });
    } finally {
      await builder.close();
    }
    if (built.problems.length > 0) {
      throw new LedgerError(409, 'quality_gate_failed', `the release was refused: ${built.problems.length} problem(s) that waiting cannot fix; nothing was published`, built.problems);
    }
    const deferredIds = new Set(built.deferred.map((d) => d.id));
    assertHeld();
    const heldNow = new Set(built.held);
    await deps.changes.addDeferred(built.deferred.map((d) => ({ ...d, held: heldNow.has(d.id) })));
    const resolved = read.previouslyDeferred.filter((id) => !deferredIds.has(id));
    // Records an earlier release held back and this one does not: either it holds them now (their first
    // release is this one, which their heads' first_public_at cannot tell), or they were retracted and
    // never appear (said so, or their heads would point at the release that held them). Written before
    // the commit; a first release is believed only once a release of that id and cut is committed.
    const addedNow = new Set(built.added);
    const wasHeld = [...read.previouslyHeld].filter((id) => !deferredIds.has(id));
    assertHeld();
    await deps.changes.recordFirstPublished(wasHeld.map((id) => ({ id, version: addedNow.has(id) ? version : null, cut })));
    const nextState: ReleaseState = { version, manifest_sha256: '', cut, latest_synced: false, rules: RELEASE_RULES };
    if (built.changes.add + built.changes.modify + built.changes.delete === 0) {
      // Nothing to publish: the marks were read all the same, so the cut moves on with the same release.
      assertHeld();
      if (committed) await deps.releases.commit({ ...committed, cut: Math.max(cut, committed.cut ?? 0), rules: RELEASE_RULES }, committed.version);
      assertHeld();
      await deps.changes.removeDeferred(resolved);
      return { published: false, reason: 'no changes', ...(built.deferred.length > 0 ? { deferred: built.deferred } : {}) };
    }

    const created = deps.clock.now().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const folder = await finishRelease(dirs.release, built, { datasetName: deps.info.datasetName, version, created, previous });
    nextState.manifest_sha256 = sha256Hex(folder.manifestBytes);
    const uploaded: string[] = [];
    let catalog;
    try {
      await uploadRelease(deps.objects, folder, assertHeld, progress, uploaded);
      catalog = await commitCatalog(deps.objects, deps.releases, folder, nextState, previous, deps.info.datasetName, assertHeld);
    } catch (err) {
      await removeUncommitted(deps.objects, uploaded, version, lease);
      throw err;
    }
    progress(`committed release ${version}`);
    await lockRelease(deps.objects, deps.objectLock, version, assertHeld, progress);
    await afterCommit(deps.objects, deps.releases, catalog, folder, nextState, built, { bucketName: deps.info.bucketName, athenaDatabase: deps.info.athenaDatabase, publicBaseUrl: deps.info.publicBaseUrl }, assertHeld);
    assertHeld();
    await deps.changes.removeDeferred(resolved);
    progress(`published ${version}: ${built.changes.add} added, ${built.changes.modify} modified, ${built.changes.delete} deleted, ${built.deferred.length} deferred`);
    return { published: true, version, manifest: `${deps.info.publicBaseUrl}/releases/${version}/manifest.json`, record_counts: folder.recordCounts, changes: built.changes, deferred: built.deferred };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
