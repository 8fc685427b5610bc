import type { SubmitResult, SubmitResultItem } from '../schemas/api.ts';
import { listReferences, type LedgerRecord, type RecordKind } from '../schemas/records.ts';
import { validateRecord, type FieldError } from '../schemas/validate-record.ts';
import { changedFields } from './canonical.ts';
import type { Clock, GroupWriteOutcome, Principal, RecordHead, RecordStore, RevisionEntry, RevisionWrite, ReviewPolicy, StoredContent } from './ports.ts';
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

/**
 * Transactions of one request in flight at once. DynamoDB Local runs transactions one after another, so
 * more only queue there (measured: 4 × 25 writes as many records per second as 16 × 50) and a request
 * waiting behind many large ones meets the client's timeout; DynamoDB in AWS runs them side by side.
 */
const WRITE_CONCURRENCY = 4;
/** Records offered to one transaction; the store takes as many as fit (DynamoDB: 100 items, 4 MB). */
const GROUP_RECORDS = 25;
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
 * for references against the store and the same batch, then written as a new revision: several
 * records to a transaction, each record whole and on its own condition (see writeAll). Identical
 * resubmission is `unchanged` and writes nothing, so any number of retries, concurrent or not, leaves
 * the same revisions as one submission.
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

  // References: to a record of the right kind, stored already or accepted in this same request (judged
  // in writeAll, once what a record cites in this request has its outcome).
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
  const failure = await writeAll(primaries, { results, live, stored }, principal, deps);
  if (failure) throw new IngestInterruptedError(summarise(settled()), { cause: failure.err });

  for (const { follower, primary } of followers) {
    const p = results[primary.index]!;
    results[follower.index] = p.status === 'rejected' ? { ...p, index: follower.index } : { ...p, index: follower.index, status: 'unchanged' };
  }
  return summarise(results.map((r, i) => r ?? rejected(i, [{ path: '', code: 'internal', message: 'not processed' }])));
}

/** What the writing step shares with the request: its results so far, its records by id, the heads read. */
interface Batch {
  results: Array<SubmitResultItem | undefined>;
  live: ReadonlyMap<string, Candidate>;
  stored: ReadonlyMap<string, RecordHead>;
}

/**
 * Judges the references of each record and writes the accepted ones, in groups of records per
 * transaction (the store takes as many as fit), {@link WRITE_CONCURRENCY} transactions in flight.
 *
 * References point from events to sources and from claims and persons to both, never back, so a record
 * of this request that cites others of it is judged as soon as those have their outcome, against what
 * was really written: one that cites a record rejected at validation or at write time is rejected too.
 * Nothing waits for a whole kind to finish.
 *
 * A record whose condition failed in its group (another writer changed it since the batched read) is
 * retried alone through {@link writeOne}, reading its head afresh. The first store failure stops the
 * batch: no new write starts, those under way finish or fail, and what is known is kept (each written
 * record's result stands: it is durable; a group whose outcome is unknown has no result).
 * @returns the store's failure, if one stopped the batch
 */
async function writeAll(primaries: ReadonlyArray<Candidate>, batch: Batch, principal: Principal, deps: IngestDeps): Promise<{ err: unknown } | undefined> {
  const { results, live, stored } = batch;
  // Each record waits for the records of this request it cites (of the right kind) that have no outcome yet.
  const waiting = new Map<Candidate, number>();
  const dependents = new Map<Candidate, Candidate[]>();
  for (const c of primaries) {
    if (results[c.index]) continue; // rejected already (too_many_references)
    const cited = new Set<Candidate>();
    for (const ref of listReferences(c.record)) {
      const target = live.get(ref.id);
      if (target && target !== c && target.record.kind === ref.target && !results[target.index]) cited.add(target);
    }
    waiting.set(c, cited.size);
    for (const t of cited) dependents.set(t, [...(dependents.get(t) ?? []), c]);
  }

  const queue: Candidate[] = [];
  const retries: Candidate[] = [];
  const resolve = (c: Candidate, result: SubmitResultItem) => {
    results[c.index] = result;
    for (const d of dependents.get(c) ?? []) {
      const left = waiting.get(d)! - 1;
      waiting.set(d, left);
      if (left === 0) judge(d);
    }
  };
  const judge = (c: Candidate) => {
    const errors = referenceErrors(c, batch, principal, deps);
    if (errors.length > 0) resolve(c, rejected(c.index, errors, c.record.id, c.record.kind));
    else queue.push(c);
  };
  for (const [c, n] of waiting) if (n === 0) judge(c);

  // Writes planned for records the store left out of a transaction (they did not fit): sent as they are.
  const planned = new Map<Candidate, Planned>();
  const grouped = deps.records.writeRevisions?.bind(deps.records);
  const writeGroup = async (group: Candidate[]) => {
    const writes: Planned[] = [];
    for (const c of group) {
      const p = planned.get(c) ?? (await plan(c, stored.get(c.record.id), principal, deps));
      if ('write' in p) writes.push(p);
      else resolve(c, p);
    }
    if (writes.length === 0) return;
    const outcomes: GroupWriteOutcome[] = grouped
      ? await grouped(writes.map((p) => p.write))
      : [(await deps.records.writeRevision(writes[0]!.write.head, writes[0]!.write.revision, writes[0]!.write.opts, writes[0]!.write.previous)) ? 'written' : 'stale'];
    // The store always sends the first write: a group it would not start is a broken store, not a wait.
    if (outcomes[0] === undefined || outcomes[0] === 'not_sent') throw new Error('the record store sent no write of a group');
    const unsent: Candidate[] = [];
    for (const [i, p] of writes.entries()) {
      const outcome = outcomes[i] ?? 'not_sent';
      if (outcome === 'not_sent') {
        planned.set(p.c, p);
        unsent.push(p.c);
        continue;
      }
      planned.delete(p.c);
      if (outcome === 'written') resolve(p.c, p.result);
      else retries.push(p.c);
    }
    queue.unshift(...unsent);
  };

  let failure: { err: unknown } | undefined;
  let busy = 0;
  let wakers: Array<() => void> = [];
  const worker = async () => {
    while (!failure) {
      const retry = retries.shift();
      // Without group writes, one record per write, as writeRevision takes them.
      const group = retry ? [] : queue.splice(0, grouped ? Math.min(GROUP_RECORDS, Math.ceil(queue.length / (WRITE_CONCURRENCY - busy))) : 1);
      if (!retry && group.length === 0) {
        if (busy === 0) return; // nothing under way could make another record ready
        await new Promise<void>((wake) => wakers.push(wake));
        continue;
      }
      busy++;
      try {
        if (retry) resolve(retry, await writeOne(retry, principal, deps, undefined, 1));
        else await writeGroup(group);
      } catch (err) {
        failure ??= { err };
      } finally {
        busy--;
        const woken = wakers;
        wakers = [];
        for (const wake of woken) wake();
      }
    }
  };
  await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, worker));
  return failure;
}

/** The reference errors of a record whose cited records of this request all have their outcome. */
function referenceErrors(c: Candidate, batch: Batch, principal: Principal, deps: IngestDeps): FieldError[] {
  const errors: FieldError[] = [];
  for (const ref of listReferences(c.record)) {
    const inBatch = batch.live.get(ref.id);
    const head = batch.stored.get(ref.id);
    let why: string | undefined;
    if (inBatch) {
      const outcome = batch.results[inBatch.index];
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
  return errors;
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

/** A record's next revision, ready to write, and what the request answers once it is written. */
interface Planned {
  c: Candidate;
  write: RevisionWrite;
  result: SubmitResultItem;
}

/**
 * What a record becomes on top of `head`: an answer without a write (`unchanged`, or rejected: id of
 * another kind, retracted, `expected_revision` not met), or its next revision, sealed for that revision.
 */
async function plan(c: Candidate, head: RecordHead | undefined, principal: Principal, deps: IngestDeps): Promise<SubmitResultItem | Planned> {
  const { id, kind } = c.record;
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
  const entry: RevisionEntry = {
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
  };
  return {
    c,
    write: { head: next, revision: entry, opts: publishEffect(head, next), previous: head },
    result: { index: c.index, id, kind, status: head ? 'updated' : 'created', revision, review_status: next.review_status },
  };
}

/**
 * Writes one record alone, from attempt `from`. Attempt 0 uses the head read in the request's batched
 * read; the version condition on the write catches any change since, and every later attempt waits a
 * little (jittered, growing, so that many writers of one record spread out) and reads the head afresh.
 */
async function writeOne(c: Candidate, principal: Principal, deps: IngestDeps, prefetched: RecordHead | undefined, from = 0): Promise<SubmitResultItem> {
  const { id, kind } = c.record;
  for (let attempt = from; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(200, 10 * 2 ** (attempt - 1)) * (0.5 + Math.random())));
    const p = await plan(c, attempt === 0 ? prefetched : await deps.records.getHead(id), principal, deps);
    if (!('write' in p)) return p;
    if (await deps.records.writeRevision(p.write.head, p.write.revision, p.write.opts, p.write.previous)) return p.result;
  }
  return {
    ...rejected(c.index, [{ path: '/id', code: 'write_conflict', message: `"${id}" was changed by ${MAX_ATTEMPTS} other writes while this one was tried: nothing was written; send it again` }], id, kind),
    retryable: true,
  };
}
