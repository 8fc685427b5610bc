import type { LedgerRecord, RecordKind } from '../schemas/records.ts';
import type { LandingData } from './landing-page.ts';

/** Who is calling: resolved from an API key by {@link authenticate}. */
export interface Principal {
  keyId: string;
  role: Role;
}
export type Role = 'contributor' | 'editor';
/**
 * Who may approve (LEDGER_REVIEW_POLICY): `single`, any editor, and editors' own submissions land
 * approved; `four_eyes`, every submission lands pending and no key approves a revision it submitted.
 */
export const REVIEW_POLICIES = ['single', 'four_eyes'] as const;
export type ReviewPolicy = (typeof REVIEW_POLICIES)[number];
export type ReviewStatus = 'pending' | 'approved' | 'rejected';

/** A submitted record as stored: normalised, defaults filled, `expected_revision` removed. */
export type StoredContent = Omit<LedgerRecord, 'expected_revision'>;

/** The current state of one record: its newest revision and, separately, the last approved one. */
export interface RecordHead {
  /** Optimistic lock: +1 on every write of the head, whatever changed (0 = no head yet). */
  version: number;
  id: string;
  kind: RecordKind;
  revision: number;
  review_status: ReviewStatus;
  content: StoredContent;
  content_sha256: string;
  submitted_by: string;
  created_at: string;
  updated_at: string;
  /** Key ids of everyone who submitted a revision: they may read the record back. */
  submitters: string[];
  approved_revision?: number;
  approved?: StoredContent;
  /** `updated_at` of the approved revision: what the published record carries. */
  approved_updated_at?: string;
  retracted: boolean;
  retraction?: { reason: string; at: string; by: string };
  /** When the record started waiting for review (its oldest unreviewed revision); the queue's order. */
  pending_since?: string;
  /**
   * The store's time (ms) of the first change mark written while the record was publishable (approved,
   * not retracted): the first release whose cut is at or after it holds the record, unless that release
   * held it back (ChangeLog.firstPublished). Set and kept by the store; -1 once a record is retracted
   * before any release held it.
   */
  first_public_at?: number;
  /** The release the record first appeared in: not stored on the head, filled in by readers (ChangeLog.firstPublished). */
  first_published?: string;
}

/** One immutable revision: the audit trail of what changed, who and when. */
export interface RevisionEntry {
  id: string;
  kind: RecordKind;
  revision: number;
  content: StoredContent;
  content_sha256: string;
  submitted_by: string;
  submitted_at: string;
  review_status: ReviewStatus;
  /** JSON Pointers of the top-level fields that differ from the previous revision. */
  changed_fields: string[];
}

/** A review, retraction or other action on a record, kept beside its revisions. */
export interface AuditEntry {
  id: string;
  action: 'approve' | 'reject' | 'retract';
  revision: number;
  by: string;
  at: string;
  note?: string;
}

/** What a write does to the published data: the change index is marked only when it is true. */
export interface WriteOptions {
  /**
   * The write changes what a release holds (an approval, an editor's approved submission, a
   * retraction): the record is marked in the change index in the same transaction.
   */
  publishChanged: boolean;
}

/** One record's new revision, as {@link RecordStore.writeRevision} takes it. */
export interface RevisionWrite {
  head: RecordHead;
  revision: RevisionEntry;
  opts: WriteOptions;
  previous?: RecordHead;
}

/**
 * What became of one write of a group: `written` (durable); `stale`, its own condition failed and
 * nothing of it was written (read the head again); `not_sent`, it did not fit the transaction.
 */
export type GroupWriteOutcome = 'written' | 'stale' | 'not_sent';

/** The record store: current heads plus every revision, written atomically. */
export interface RecordStore {
  getHead(id: string): Promise<RecordHead | undefined>;
  getHeads(ids: ReadonlyArray<string>): Promise<Map<string, RecordHead>>;
  /**
   * Writes a new revision and the new head in one transaction, only if the stored head's version is
   * still `head.version - 1` (no head when that is 0). Returns false when that condition failed.
   * `previous` is the head this write replaces, when the caller read it: the store then rewrites only
   * the listing entries that move (see {@link RecordListing}); without it, all of them.
   */
  writeRevision(head: RecordHead, revision: RevisionEntry, opts: WriteOptions, previous?: RecordHead): Promise<boolean>;
  /**
   * Writes the new revisions of several records (distinct ids) in one transaction: as many of them, in
   * order, as one transaction takes (always the first), each record whole and on writeRevision's
   * condition. A record whose condition fails is `stale` and the others are sent again without it.
   * Returns one outcome per write. When it throws (the store failed), none is known to be written.
   * Optional: a store without it is written record by record with writeRevision.
   */
  writeRevisions?(writes: ReadonlyArray<RevisionWrite>): Promise<GroupWriteOutcome[]>;
  /** Replaces the head (review, retraction) with an audit entry, on the same condition. */
  updateHead(head: RecordHead, audit: AuditEntry, opts: WriteOptions, previous?: RecordHead): Promise<boolean>;
  listRevisions(id: string): Promise<RevisionEntry[]>;
  /** Throws unless the store answers. */
  ping(): Promise<void>;
  listAudit(id: string): Promise<AuditEntry[]>;
  /**
   * Streams every head, page by page, from `segments` parallel segments of the heads-only index: never
   * a revision, audit or key item. The index is eventually consistent: see {@link ChangeLog} for how a
   * full rebuild still misses nothing.
   */
  scanHeads(segments: number): AsyncIterable<RecordHead[]>;
  /** Whether the store holds no record at all (one read, whatever its size). */
  isEmpty(): Promise<boolean>;
}

/** What GET /records lists: one review status, the retracted records, or `any` of them. */
export type ListStatus = ReviewStatus | 'retracted' | 'any';

export interface HeadListQuery {
  status: ListStatus;
  kind?: RecordKind;
  /** Only records of which this key submitted a revision (any revision, not only the newest). */
  submittedBy?: string;
  /** Heads per page, 1..500. */
  limit: number;
  /** Where the previous page ended: its {@link HeadPage.cursor}, for the same query. */
  cursor?: string;
}

export interface HeadPage {
  heads: RecordHead[];
  /** Opaque; absent when there is nothing after this page. */
  cursor?: string;
}

/**
 * The listing behind GET /records, served by the store's indexes: its cost follows the page asked
 * for, never the size of the ledger. Pending records come oldest first (by the time they started
 * waiting), the others by id; `any` lists the pending ones first, then the others by id. A
 * retracted record is listed as `retracted` only, whatever its review status.
 */
export interface RecordListing {
  /** @throws InvalidCursorError when `cursor` is not one this listing made for the same query */
  listHeads(query: HeadListQuery): Promise<HeadPage>;
}

/** A cursor that is malformed, or was made for another query. */
export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

/** One mark of the change index: this record's published state changed at `at` (ms, store clock). */
export interface ChangeMark {
  id: string;
  at: number;
}

/**
 * The change index: an append-only log of marks, written in the same transaction as the write that
 * changed what a release holds, read by the publisher from a watermark.
 *
 * Exactness comes from a fence: every marking transaction also checks that the fence (the cut of the
 * latest publish to start) is below its own mark's time, and {@link advanceCut} raises the fence. So
 * once `advanceCut` has returned `cut`, no mark at or below `cut` can still commit, and a strongly
 * consistent read of `(after, cut]` sees every one there will ever be. Nothing is cleared: the next
 * publish reads from the cut that was committed with the last release. Marks expire after
 * {@link MARK_RETENTION_MS}; a publish whose watermark is older rebuilds in full.
 */
/** A record a release held back, or kept at its previous revision, because a reference was missing. */
export interface DeferredEntry {
  id: string;
  reason: string;
  /** Held back: no release holds any revision of it yet. */
  held?: boolean;
}

export interface ChangeLog {
  /** Raises the fence to the store's current time (strictly above its previous value) and returns it. */
  advanceCut(): Promise<number>;
  /** Marks in `(after, upTo]`, page by page; an id may appear more than once. */
  read(after: number, upTo: number): AsyncIterable<ChangeMark[]>;
  /** Records held back by a release because a reference was missing: re-checked by every publish that builds. */
  listDeferred(): AsyncIterable<DeferredEntry[]>;
  /** Adds records to the deferred set, or updates their reasons. */
  addDeferred(entries: ReadonlyArray<DeferredEntry>): Promise<void>;
  /** Removes ids from the deferred set (after the release that published them is committed). */
  removeDeferred(ids: ReadonlyArray<string>): Promise<void>;
  /**
   * Records the release that first holds records an earlier release held back (`held`), with that
   * release's cut; written before its commit, and believed only once a release of that id and cut is
   * committed. Every other record's first release follows from its head and the releases' cuts: no
   * write per record after a release. `version` null: held back, then retracted (never published).
   */
  recordFirstPublished(entries: ReadonlyArray<{ id: string; version: string | null; cut: number }>): Promise<void>;
  /** The release each record first appeared in, where it has appeared (from its head's `first_public_at`, the committed releases' cuts and the held-back set). */
  firstPublished(heads: ReadonlyArray<RecordHead>): Promise<Map<string, string>>;
}

/** How long marks are kept; a publish whose last committed cut is older than this rebuilds in full. */
export const MARK_RETENTION_MS = 30 * 24 * 3600 * 1000;

export interface ApiKey {
  key_id: string;
  key_sha256: string;
  role: Role;
  name: string;
  created_at: string;
  created_by: string;
  disabled: boolean;
  disabled_at?: string;
}

export interface KeyStore {
  /** Stores a key; false if its id or hash exists already. */
  putKey(key: ApiKey): Promise<boolean>;
  getKeyByHash(sha256: string): Promise<ApiKey | undefined>;
  /** Disables a key; false if no such key id. */
  disableKey(keyId: string, at: string): Promise<boolean>;
}

/** A lease that at most one holder has at a time, and that expires if its holder dies. */
export interface LeaseStore {
  acquire(name: string, owner: string, ttlMs: number, now: Date): Promise<boolean>;
  renew(name: string, owner: string, ttlMs: number, now: Date): Promise<boolean>;
  release(name: string, owner: string): Promise<void>;
}

/** How an object is written. */
export interface PutOptions {
  contentType: string;
  /** Fail with {@link ObjectExistsError} when the key exists (S3 `If-None-Match: *`). */
  ifNoneMatch?: boolean;
  /** Fail with {@link ObjectChangedError} unless the object's current ETag is this one (S3 `If-Match`). */
  ifMatch?: string;
  cacheControl?: string;
  contentEncoding?: string;
}

/** One object as a listing shows it. */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

/** The public bucket (and anything shaped like it). */
export interface ObjectStore {
  /** Writes a small object held in memory (catalog, manifest, index.html). */
  put(key: string, body: Uint8Array, opts: PutOptions): Promise<void>;
  /**
   * Writes a file, streamed from disk: never held whole in memory. Above the store's multipart threshold
   * it is uploaded in parts; the conditions of `opts` hold for the whole object either way.
   */
  putFile(key: string, path: string, opts: PutOptions): Promise<void>;
  /** Server-side copy of an object to another key (no bytes through this process). */
  copy(fromKey: string, toKey: string, opts: PutOptions): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  /** The object with its ETag (for a later conditional write), or undefined when absent. */
  getWithTag(key: string): Promise<{ body: Uint8Array; etag: string } | undefined>;
  /** Streams an object to a file; false when the key does not exist. */
  download(key: string, path: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Every object under a prefix, page by page as the store answers. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** The "folders" directly under a prefix (S3 CommonPrefixes with delimiter '/'), each ending in '/'. */
  listFolders(prefix: string): AsyncIterable<string>;
  /**
   * Locks the object as it is now until `retention.until` (S3 Object Lock: PutObjectRetention): nobody
   * may delete it before then (GOVERNANCE: nobody without the right to bypass it). Setting the same or
   * a later date again is allowed; an earlier one is refused by the store.
   */
  retain(key: string, retention: ObjectRetention): Promise<void>;
  ping(): Promise<void>;
}

/** The S3 Object Lock modes a release can be locked with. */
export const OBJECT_LOCK_MODES = ['GOVERNANCE', 'COMPLIANCE'] as const;
export type ObjectLockMode = (typeof OBJECT_LOCK_MODES)[number];
export interface ObjectRetention {
  mode: ObjectLockMode;
  until: Date;
}

export class ObjectExistsError extends Error {
  override name = 'ObjectExistsError';
}

/** An `If-Match` write found another version of the object than the one it was based on. */
export class ObjectChangedError extends Error {
  override name = 'ObjectChangedError';
}

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

/** What one committed release left in the store: enough to chain, fence and read changes from. */
export interface ReleaseState {
  version: string;
  manifest_sha256: string;
  /** The change-index cut this release covers (every mark at or below it is in it); absent for releases made before the change index. */
  cut?: number;
  /** latest/ was refreshed from this release after its commit (false: a publish died while refreshing it). */
  latest_synced?: boolean;
  /** The redaction rules and table columns the release was built with (see publish/rules.ts). */
  rules?: string;
}

/**
 * What the publisher last published, kept outside the bucket: the next publish checks the bucket's
 * latest manifest against it before chaining onto it, so a rewritten manifest is never built upon.
 *
 * Two-phase: `prepare` records the release about to be committed, before `catalog.json` is written;
 * `getLatest` promotes it when the catalog names it (the publisher died between the catalog and
 * `commit`), and ignores it otherwise.
 */
export interface ReleaseStateStore {
  getLatest(): Promise<{ latest?: ReleaseState; pending?: ReleaseState }>;
  prepare(state: ReleaseState): Promise<void>;
  /**
   * Records `state` as the latest committed release, only if the latest is still `expected` (null: none
   * yet): a publisher that lost its lease can never move the record back. False when it was not.
   */
  commit(state: ReleaseState, expected: string | null): Promise<boolean>;
}

/** What the build step reads: files written by the read step, and the previous release's Parquet. */
export interface BuildInput {
  /** The new release id (stamped as first_published on records that appear for the first time). */
  version: string;
  /** Rebuild from the store's heads alone: the previous release only gives first_published and the diff. */
  full: boolean;
  /**
   * A deferred record may go out at its previous published row. False when the previous release was
   * built under other redaction rules: its rows are not to be trusted, and a deferred record is held back.
   */
  carryPrevious: boolean;
  /** Local Parquet parts of the previous release, per table (record tables and event_actors); none for the first release. */
  previous?: Partial<Record<string, string[]>>;
  /**
   * Written by the read step: `<table>.ndjson`, the public flat rows of every changed record that may be
   * published (event_actors rows carry `__pos`, the actor's index); `touched.ndjson`, `{ id, table_name,
   * retracted, reason }` for each of them and for each retracted one.
   */
  changesDir: string;
  /** Where parts go: `tables/<table>/part-NNNNN.parquet` and `json/<table>.ndjson.gz`. */
  outDir: string;
  partRows: number;
  /**
   * Rows sorted at a time (default 16,384, also the Parquet row-group size): a table is written as
   * sorted chunks of this many rows, then joined into its parts in order, so memory follows the
   * chunk, not the table.
   */
  chunkRows?: number;
  /** Share of a table's rows (0..1) that may vanish without matching retractions. */
  maxDropShare: number;
}

export interface BuiltTable {
  /** Paths relative to outDir, with their rows. */
  parts: Array<{ path: string; rows: number }>;
  json: { path: string; rows: number };
}

/** What the build made, and what it found. */
export interface BuildResult {
  tables: Record<string, BuiltTable>;
  changes: { add: number; modify: number; delete: number };
  /** Changed records held back (or kept at their previous revision) because a reference is not in the release. */
  deferred: Array<{ id: string; reason: string }>;
  /** Ids that appear for the first time. */
  added: string[];
  /** Deferred ids with no row in the release at all (held back, not kept at a previous revision). */
  held: string[];
  /** What waiting cannot fix: when not empty, nothing may be published. */
  problems: Array<{ path: string; code: string; message: string }>;
  /** The landing page's aggregates (events per day, map cells, comparable claims), bounded whatever the release's size. */
  landing: LandingData;
}

/** Builds a release's tables from the previous release plus the changes: DuckDB in production. */
export interface ReleaseBuilder {
  build(input: BuildInput): Promise<BuildResult>;
  close(): Promise<void>;
}
