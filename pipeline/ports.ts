import type { LedgerRecord, RecordKind } from '../schemas/records.ts';

/** Who is calling: resolved from an API key by {@link authenticate}. */
export interface Principal {
  keyId: string;
  role: Role;
}
export type Role = 'contributor' | 'editor';
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
  /** The release the record first appeared in; set by the publisher after that release is out. */
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

/** The record store: current heads plus every revision, written atomically. */
export interface RecordStore {
  getHead(id: string): Promise<RecordHead | undefined>;
  getHeads(ids: ReadonlyArray<string>): Promise<Map<string, RecordHead>>;
  /**
   * Writes a new revision and the new head in one transaction, only if the stored head's version is
   * still `head.version - 1` (no head when that is 0). Returns false when that condition failed.
   */
  writeRevision(head: RecordHead, revision: RevisionEntry): Promise<boolean>;
  /** Replaces the head (review, retraction) with an audit entry, on the same condition. */
  updateHead(head: RecordHead, audit: AuditEntry): Promise<boolean>;
  listRevisions(id: string): Promise<RevisionEntry[]>;
  /**
   * Records the release each record first appeared in, where not yet recorded. It does not touch the
   * head's version: it is a fact about the bucket, not an edit of the record.
   */
  markFirstPublished(entries: ReadonlyArray<{ id: string; release: string }>): Promise<void>;
  /** Throws unless the store answers. */
  ping(): Promise<void>;
  listAudit(id: string): Promise<AuditEntry[]>;
  /** Streams every head, page by page, from `segments` parallel scan segments (strongly consistent). */
  scanHeads(segments: number): AsyncIterable<RecordHead[]>;
}

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

/** The public bucket (and anything shaped like it). */
export interface ObjectStore {
  /** Writes an object; with `ifNoneMatch` it fails with {@link ObjectExistsError} when the key exists. */
  put(key: string, body: Uint8Array, opts: { contentType: string; ifNoneMatch?: boolean; cacheControl?: string; contentEncoding?: string }): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  delete(key: string): Promise<void>;
  list(prefix: string): AsyncIterable<string>;
  ping(): Promise<void>;
}

export class ObjectExistsError extends Error {
  override name = 'ObjectExistsError';
}

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

/** Writes columnar files from row files: Parquet by DuckDB in production. */
export interface ParquetWriter {
  /**
   * Reads `rowsPath` (flat NDJSON whose keys are the table's column names) and writes Parquet parts of
   * at most `partRows` rows each, sorted by `orderBy`, as `${outPrefix}-00000.parquet`, …; returns the
   * written paths (at least one, even for no rows: every column is present in every file).
   */
  write(table: { name: string; columns: ReadonlyArray<{ name: string; type: string }> }, rowsPath: string, outPrefix: string, opts: { partRows: number; orderBy: string[] }): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * What the publisher last published, kept outside the bucket: the next publish checks the bucket's
 * latest manifest against it before chaining onto it, so a rewritten manifest is never built upon.
 */
export interface ReleaseStateStore {
  getLatest(): Promise<{ version: string; manifest_sha256: string } | undefined>;
  setLatest(version: string, manifestSha256: string): Promise<void>;
}
