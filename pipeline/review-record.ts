import type { ReviewBody } from '../schemas/api.ts';
import type { RecordKind } from '../schemas/records.ts';
import { listReferences } from '../schemas/records.ts';
import { LedgerError, conflict, forbidden, notFound } from './errors.ts';
import type { AuditEntry, ChangeLog, Clock, Principal, RecordHead, RecordStore, ReviewPolicy } from './ports.ts';
import { publishEffect } from './published-state.ts';
import { recordView, revealNewest } from './record-view.ts';
import type { RecordSealer } from './sealing.ts';

export interface ReviewDeps {
  records: RecordStore;
  /** Where the release each record first appeared in is kept. */
  changes: Pick<ChangeLog, 'firstPublished'>;
  clock: Clock;
  /** Default `single`; under `four_eyes` no key approves a revision it submitted. */
  reviewPolicy?: ReviewPolicy;
  /** Opens sealed values for the readers the record view shows them to; absent, nothing is opened (views show them sealed). */
  sealer?: RecordSealer;
}

/** A review as the routes take it: the decision, an optional note and, optionally, the revision seen. */
export type Review = ReviewBody;

/** The head with the release it first appeared in, for the views that show it. */
async function withFirstPublished(deps: Pick<ReviewDeps, 'changes'>, head: RecordHead): Promise<RecordHead> {
  const first = (await deps.changes.firstPublished([head])).get(head.id);
  return first ? { ...head, first_published: first } : head;
}

export function requireEditor(principal: Principal): void {
  if (principal.role !== 'editor') throw forbidden('this needs an editor key');
}

/** Loads a record's head for `kind`/`id`, or throws 404 (also when the id belongs to another kind). */
export async function loadHead(records: RecordStore, kind: RecordKind | string, id: string): Promise<RecordHead> {
  const head = await records.getHead(id);
  if (!head || head.kind !== kind) throw notFound(`no ${kind} record "${id}"`);
  return head;
}

/**
 * Loads a record `principal` may read: editors any, contributors only records they submitted a
 * revision of; anything else is the same 404 as a record that does not exist.
 */
export async function loadReadableHead(records: RecordStore, kind: string, id: string, principal: Principal): Promise<RecordHead> {
  const head = await loadHead(records, kind, id);
  if (principal.role !== 'editor' && !head.submitters.includes(principal.keyId)) throw notFound(`no ${kind} record "${id}"`);
  return head;
}

/** GET /records/{kind}/{id}: contributors may read only records they submitted a revision of. */
export async function readRecord(kind: string, id: string, principal: Principal, deps: ReviewDeps): Promise<Record<string, unknown>> {
  const head = await loadReadableHead(deps.records, kind, id, principal);
  return recordView(await revealNewest(await withFirstPublished(deps, head), principal, deps.sealer), principal);
}

async function commit(deps: ReviewDeps, head: RecordHead, next: RecordHead, audit: AuditEntry): Promise<void> {
  if (!(await deps.records.updateHead({ ...next, version: head.version + 1 }, audit, publishEffect(head, next), head))) {
    throw conflict('revision_conflict', `"${head.id}" changed while it was being reviewed: read it again and repeat`);
  }
}

/**
 * Approves or rejects the newest revision of a record (editors) and returns the new head. Refused:
 * a retracted record; a `revision` that is no longer the newest (409 revision_conflict: an editor
 * decides on what it saw); under four eyes, approving a revision the editor submitted itself (403
 * self_review); approving while the record refers to records that are not approved or are retracted
 * (the release would hold a dangling reference).
 */
export async function decideReview(kind: string, id: string, review: Review, principal: Principal, deps: ReviewDeps): Promise<RecordHead> {
  requireEditor(principal);
  const head = await loadHead(deps.records, kind, id);
  if (head.retracted) throw conflict('record_retracted', `"${id}" is retracted and cannot be reviewed`);
  if (review.revision !== undefined && review.revision !== head.revision) {
    const message = `revision ${review.revision} is no longer the newest: "${id}" is at revision ${head.revision}; read it again and decide on what it is now`;
    throw conflict('revision_conflict', message, [{ path: '/revision', code: 'revision_conflict', message }]);
  }
  if (review.decision === 'approve' && (deps.reviewPolicy ?? 'single') === 'four_eyes' && head.submitted_by === principal.keyId) {
    const message = `revision ${head.revision} of "${id}" was submitted with this key: under four eyes another editor approves it`;
    throw new LedgerError(403, 'self_review', message, [{ path: '/decision', code: 'self_review', message }]);
  }
  const now = deps.clock.now().toISOString();
  let next: RecordHead;
  if (review.decision === 'approve') {
    const refs = listReferences(head.content as never);
    const targets = await deps.records.getHeads(refs.map((r) => r.id));
    const bad = refs.filter((r) => {
      const t = targets.get(r.id);
      return !t || t.kind !== r.target || t.retracted || t.approved_revision === undefined;
    });
    if (bad.length > 0) {
      throw conflict(
        'unapproved_reference',
        `approve the records "${id}" refers to first: ${bad.map((b) => b.id).join(', ')}`,
        bad.map((b) => ({ path: b.pointer, code: 'unapproved_reference', message: `"${b.id}" is not an approved, unretracted ${b.target}` })),
      );
    }
    next = { ...head, review_status: 'approved', approved_revision: head.revision, approved: head.content, approved_updated_at: head.updated_at, pending_since: undefined };
  } else {
    next = { ...head, review_status: 'rejected', pending_since: undefined };
  }
  await commit(deps, head, next, { id, action: review.decision, revision: head.revision, by: principal.keyId, at: now, ...(review.note ? { note: review.note } : {}) });
  return { ...next, version: head.version + 1 };
}

/** POST /records/{kind}/{id}/review: {@link decideReview}, answered with the record as the editor now sees it. */
export async function reviewRecord(kind: string, id: string, review: Review, principal: Principal, deps: ReviewDeps): Promise<Record<string, unknown>> {
  const decided = await decideReview(kind, id, review, principal, deps);
  return recordView(await revealNewest(await withFirstPublished(deps, decided), principal, deps.sealer), principal);
}

/** Retracts a record (editors): it leaves the next release as a `delete` with this reason. */
export async function retractRecord(kind: string, id: string, reason: string, principal: Principal, deps: ReviewDeps): Promise<Record<string, unknown>> {
  requireEditor(principal);
  const head = await loadHead(deps.records, kind, id);
  if (head.retracted) return recordView(await revealNewest(head, principal, deps.sealer), principal);
  const now = deps.clock.now().toISOString();
  const next: RecordHead = { ...head, retracted: true, retraction: { reason, at: now, by: principal.keyId } };
  await commit(deps, head, next, { id, action: 'retract', revision: head.revision, by: principal.keyId, at: now, note: reason });
  return recordView(await revealNewest(await withFirstPublished(deps, next), principal, deps.sealer), principal);
}
