import type { SubmitResult, SubmitResultItem } from '../schemas/api.ts';
import { listReferences, type LedgerRecord, type RecordKind } from '../schemas/records.ts';
import { validateRecord, type FieldError } from '../schemas/validate-record.ts';
import { changedFields } from './canonical.ts';
import type { Clock, Principal, RecordHead, RecordStore, ReviewPolicy, StoredContent } from './ports.ts';
import { publishEffect } from './published-state.ts';
import { readsNewestContent } from './record-view.ts';
import { comparable, sealerOfProcess, type RecordSealer } from './sealing.ts';

export interface IngestDeps {
  records: RecordStore;
  clock: Clock;
  /** Default `single`: editors' submissions land approved; under `four_eyes` every submission is pending. */
  reviewPolicy?: ReviewPolicy;
  /**
   * Seals restricted values and withheld names before they are stored; keys the content hash. Every
   * entry point passes the deployment's; absent, a key of this process only (benchmarks).
   */
  sealer?: RecordSealer;
}

/** Whether this principal's submissions are approved as they land (editors, unless four eyes). */
const approvedOnArrival = (principal: Principal, deps: IngestDeps) => principal.role === 'editor' && (deps.reviewPolicy ?? 'single') === 'single';

const sealerOf = (deps: IngestDeps): RecordSealer => deps.sealer ?? sealerOfProcess();

/** How many records are written at once; DynamoDB transactions are per record. */
const WRITE_CONCURRENCY = 16;
/** Attempts when another writer changed the same record between our read and our write. */
const MAX_ATTEMPTS = 8;
/**
 * Distinct ids a request may cite that it does not carry itself: each is a read of the store (100 per
 * BatchGetItem, so at most 100 calls). A full batch of 1,000 records citing 10 stored records each
 * fits, as a bulk upload citing sources spread over a large ledger needs (2,000 refused the benchmark's
 * realistic batches); 1,000 persons citing 100 each does not.
 */
export const MAX_REFERENCED_IDS = 10_000;

/**
 * The store stopped answering part-way through a batch. `results` holds what is known: records
 * written before it are `created`/`updated` (durable), the rest are `rejected` with `store_unavailable`
 * and `retryable` (a retry is safe: ids are idempotency keys). `cause` is the store's error.
 */
export class IngestInterruptedError extends Error {
  override name = 'IngestInterruptedError';
  constructor(
    readonly result: SubmitResult,
    options: { cause: unknown },
  ) {
    super(`the store stopped answering after ${result.accepted} of ${result.results.length} records`, options);
  }
}

type Candidate = { index: number; record: LedgerRecord; content: StoredContent; hash: string };

const rejected = (index: number, errors: FieldError[], id?: string, kind?: RecordKind): SubmitResultItem => ({ index, id, kind, status: 'rejected', errors });

/**
 * Ingests a batch of raw records (POST /records). Each record is judged on its own: validated, checked
 * for references against the store and the same batch, then written as a new revision in its own
 * transaction. Identical resubmission is `unchanged` and writes nothing, so any number of retries,
 * concurrent or not, leaves the same revisions as one submission.
 *
 * `unchanged` is answered only to editors and to the contributor that sent the newest revision: to any
 * other contributor the answer must not depend on content it cannot read, so its copy becomes a new
 * pending revision even when identical (API.md). Once written, that revision is its own, and its retries
 * (including a concurrent copy that loses the write and reads the head again) are `unchanged`.
 *
 * Duplicate ids inside one batch: copies with identical content are one submission (the later copies
 * answer `unchanged`); copies that differ are all rejected with `duplicate_id`, since no order between
 * them is meaningful.
 */
export async function ingestRecords(raw: ReadonlyArray<unknown>, principal: Principal, deps: IngestDeps): Promise<SubmitResult> {
  const results: Array<SubmitResultItem | undefined> = new Array(raw.length);
  const candidates: Candidate[] = [];
  for (const [index, input] of raw.entries()) {
    const v = validateRecord(input);
    if (!v.ok) {
      results[index] = rejected(index, v.errors, v.id, v.kind);
      continue;
    }
    const { expected_revision: _ignored, ...content } = v.record;
    // Keyed (HMAC): the hash is stored beside sealed values, and a bare SHA-256 would let a copy of the
    // table confirm a guess of them offline.
    candidates.push({ index, record: v.record, content: content as StoredContent, hash: await sealerOf(deps).contentMac(content as StoredContent) });
  }

  // Duplicate ids inside the batch (rejected records with an id count too: their content differs).
  const byId = new Map<string, Candidate[]>();
  for (const c of candidates) byId.set(c.record.id, [...(byId.get(c.record.id) ?? []), c]);
  const rejectedIds = new Set(results.filter((r) => r?.id !== undefined).map((r) => r!.id!));
  const primaries: Candidate[] = [];
  const followers: Array<{ follower: Candidate; primary: Candidate }> = [];
  for (const [id, group] of byId) {
    const differs = rejectedIds.has(id) || group.some((c) => c.hash !== group[0]!.hash || c.record.expected_revision !== group[0]!.record.expected_revision);
    if (differs) {
      const duplicate: FieldError = { path: '/id', code: 'duplicate_id', message: `the id "${id}" appears more than once in this request with different content; send one version` };
      for (const c of group) results[c.index] = rejected(c.index, [duplicate], id, c.record.kind);
      // Copies that failed validation keep their own errors and get this one too.
      for (const r of results) if (r?.id === id && !r.errors?.some((e) => e.code === 'duplicate_id')) r.errors = [...(r.errors ?? []), duplicate];
      continue;
    }
    primaries.push(group[0]!);
    for (const f of group.slice(1)) followers.push({ follower: f, primary: group[0]! });
  }

  // References: to a record of the right kind, stored already or accepted in this same request. Writes
  // go in waves (sources, then events, then claims and persons: the direction references point), and a
  // record is checked just before its wave, against what earlier waves really wrote: a record that cites
  // one rejected at validation or at write time is rejected too.
  const live = new Map(primaries.map((c) => [c.record.id, c]));
  const external = new Set<string>();
  for (const c of primaries) {
    // Look-ups are bounded per request: a record that would take the request past the bound is rejected
    // at its first reference beyond it, before anything is read; the records before it are judged as usual.
    const mine = new Set<string>();
    const beyond = listReferences(c.record).find((ref) => {
      if (live.has(ref.id) || external.has(ref.id) || mine.has(ref.id)) return false;
      if (external.size + mine.size >= MAX_REFERENCED_IDS) return true;
      mine.add(ref.id);
      return false;
    });
    if (beyond) {
      results[c.index] = rejected(c.index, [{ path: beyond.pointer, code: 'too_many_references', message: `this request cites more than ${MAX_REFERENCED_IDS} distinct records it does not carry itself; send this record in another request` }], c.record.id, c.record.kind);
      continue;
    }
    for (const id of mine) external.add(id);
  }
  // Array.from, not map: the array has holes where nothing is known yet.
  const candidateAt = new Map(candidates.map((c) => [c.index, c]));
  const settled = () => Array.from(results, (r, i) => r ?? interrupted(i, candidateAt.get(i)));
  // One batched read for every head the request touches: its references and the records it writes.
  let stored: Map<string, RecordHead>;
  try {
    stored = await deps.records.getHeads([...external, ...live.keys()]);
  } catch (err) {
    throw new IngestInterruptedError(summarise(settled()), { cause: err });
  }
  const waves: RecordKind[][] = [['source'], ['event'], ['claim', 'person']];
  for (const wave of waves) {
    const batch = primaries.filter((c) => wave.includes(c.record.kind));
    const ready: Candidate[] = [];
    for (const c of batch) {
      const errors: FieldError[] = [];
      for (const ref of listReferences(c.record)) {
        const inBatch = live.get(ref.id);
        const head = stored.get(ref.id);
        let why: string | undefined;
        if (inBatch) {
          const outcome = results[inBatch.index];
          if (inBatch.record.kind !== ref.target) why = `is not a ${ref.target}`;
          else if (!outcome || outcome.status === 'rejected') why = 'was rejected in this request';
        } else if (!head) why = 'is neither stored nor valid in this request';
        else if (head.kind !== ref.target) why = `is not a ${ref.target}`;
        else if (head.retracted) why = 'is retracted';
        else if (approvedOnArrival(principal, deps) && head.approved_revision === undefined) {
          // An editor's record is approved at once: citing an unapproved one would leave a dangling
          // reference in the next release, which the publisher refuses. A pending submission (four
          // eyes) may cite one: its approval waits until what it cites is approved (review-record.ts).
          errors.push({ path: ref.pointer, code: 'unapproved_reference', message: `"${ref.id}" is not approved yet: approve it first, or submit both in one request` });
          continue;
        }
        if (why) errors.push({ path: ref.pointer, code: 'unknown_reference', message: `"${ref.id}" ${why}` });
      }
      if (results[c.index]) continue; // rejected above (too_many_references)
      if (errors.length > 0) results[c.index] = rejected(c.index, errors, c.record.id, c.record.kind);
      else ready.push(c);
    }
    // The first store failure stops the batch: no new write starts, those under way finish or fail,
    // and the request answers what is known (each written record's result stands: it is durable).
    let failure: { err: unknown } | undefined;
    const worker = async () => {
      for (let c = failure ? undefined : ready.shift(); c; c = failure ? undefined : ready.shift()) {
        try {
          results[c.index] = await writeOne(c, principal, deps, stored.get(c.record.id));
        } catch (err) {
          failure ??= { err };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, ready.length) }, worker));
    if (failure) throw new IngestInterruptedError(summarise(settled()), { cause: failure.err });
  }

  for (const { follower, primary } of followers) {
    const p = results[primary.index]!;
    results[follower.index] = p.status === 'rejected' ? { ...p, index: follower.index } : { ...p, index: follower.index, status: 'unchanged' };
  }
  return summarise(results.map((r, i) => r ?? rejected(i, [{ path: '', code: 'internal', message: 'not processed' }])));
}

function summarise(final: SubmitResultItem[]): SubmitResult {
  const accepted = final.filter((r) => r.status !== 'rejected').length;
  return { accepted, rejected: final.length - accepted, results: final };
}

/** A record whose write did not happen, or whose outcome the store never told: send it again. */
const interrupted = (index: number, c: Candidate | undefined): SubmitResultItem => ({
  ...rejected(index, [{ path: '', code: 'store_unavailable', message: 'not known to be written: the store stopped answering; send this record again (a retry is safe)' }], c?.record.id, c?.record.kind),
  retryable: true,
});

/**
 * Writes one record. The first attempt uses the head read in the request's batched read; the version
 * condition on the write catches any change since, and the retry then reads the head afresh.
 */
async function writeOne(c: Candidate, principal: Principal, deps: IngestDeps, prefetched: RecordHead | undefined): Promise<SubmitResultItem> {
  const { id, kind } = c.record;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const head = attempt === 0 ? prefetched : await deps.records.getHead(id);
    if (head && head.kind !== kind) {
      return rejected(c.index, [{ path: '/id', code: 'id_taken', message: `the id "${id}" belongs to a ${head.kind} record; ids are unique across kinds` }], id, kind);
    }
    if (head?.retracted) {
      return rejected(c.index, [{ path: '/id', code: 'record_retracted', message: `"${id}" was retracted and cannot be changed; ids are never reused` }], id, kind);
    }
    // Only whoever may read the stored content learns whether it equals the sent one: for anyone else an
    // `unchanged` would confirm a guess of restricted text or withheld names. Their identical copy is a
    // new pending revision like any other, and `expected_revision` is judged on the number alone.
    if (head && readsNewestContent(head, principal) && head.content_sha256 === c.hash) {
      return { index: c.index, id, kind, status: 'unchanged', revision: head.revision, review_status: head.review_status };
    }
    const expected = c.record.expected_revision;
    const current = head?.revision ?? 0;
    if (expected !== undefined && expected !== current) {
      return rejected(c.index, [{ path: '/expected_revision', code: 'revision_conflict', message: `the stored revision is ${current}, not ${expected}: read the record again and resubmit` }], id, kind);
    }
    const now = deps.clock.now().toISOString();
    const revision = current + 1;
    const approved = approvedOnArrival(principal, deps);
    // Sealed for this very revision: its values open only as revision `revision` of this record.
    const sealed = await sealerOf(deps).seal({ id, kind, revision }, c.content);
    const next: RecordHead = {
      version: (head?.version ?? 0) + 1,
      id,
      kind,
      revision,
      review_status: approved ? 'approved' : 'pending',
      content: sealed,
      content_sha256: c.hash,
      submitted_by: principal.keyId,
      created_at: head?.created_at ?? now,
      updated_at: now,
      submitters: [...new Set([...(head?.submitters ?? []), principal.keyId])],
      // A contributor's new revision waits for review; the published view keeps the last approved one.
      approved_revision: approved ? revision : head?.approved_revision,
      approved: approved ? sealed : head?.approved,
      approved_updated_at: approved ? now : head?.approved_updated_at,
      retracted: false,
      // The queue's order: a record waits from its first unreviewed revision, not its newest.
      pending_since: approved ? undefined : head?.review_status === 'pending' ? (head.pending_since ?? head.updated_at) : now,
    };
    const written = await deps.records.writeRevision(next, {
      id,
      kind,
      revision,
      content: sealed,
      content_sha256: c.hash,
      submitted_by: principal.keyId,
      submitted_at: now,
      review_status: next.review_status,
      // Sealed values compared by their MACs (bound to this record): nothing is opened to tell what changed.
      changed_fields: changedFields(comparable(head?.content), comparable(sealed)!),
    }, publishEffect(head, next), head);
    if (written) return { index: c.index, id, kind, status: head ? 'updated' : 'created', revision, review_status: next.review_status };
    // Another writer won: wait a little (jittered, growing) so that many writers of one record spread out.
    await new Promise((r) => setTimeout(r, Math.min(200, 10 * 2 ** attempt) * (0.5 + Math.random())));
  }
  return {
    ...rejected(c.index, [{ path: '/id', code: 'write_conflict', message: `"${id}" was changed by ${MAX_ATTEMPTS} other writes while this one was tried: nothing was written; send it again` }], id, kind),
    retryable: true,
  };
}
