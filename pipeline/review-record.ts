import type { RecordKind } from '../schemas/records.ts';
import { listReferences } from '../schemas/records.ts';
import { conflict, forbidden, notFound } from './errors.ts';
import type { AuditEntry, ChangeLog, Clock, Principal, RecordHead, RecordStore } from './ports.ts';
import { publishEffect } from './published-state.ts';
import { recordView } from './record-view.ts';

export interface ReviewDeps {
  records: RecordStore;
  /** Where the release each record first appeared in is kept. */
  changes: Pick<ChangeLog, 'firstPublished'>;
  clock: Clock;
}

/** The head with the release it first appeared in, for the views that show it. */
async function withFirstPublished(deps: ReviewDeps, head: RecordHead): Promise<RecordHead> {
  const first = (await deps.changes.firstPublished([head.id])).get(head.id);
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

/** GET /records/{kind}/{id}: contributors may read only records they submitted a revision of. */
export async function readRecord(kind: string, id: string, principal: Principal, deps: ReviewDeps): Promise<Record<string, unknown>> {
  const head = await loadHead(deps.records, kind, id);
  if (principal.role !== 'editor' && !head.submitters.includes(principal.keyId)) throw notFound(`no ${kind} record "${id}"`);
  return recordView(await withFirstPublished(deps, head), principal);
}

async function commit(deps: ReviewDeps, head: RecordHead, next: RecordHead, audit: AuditEntry): Promise<void> {
  if (!(await deps.records.updateHead({ ...next, version: head.version + 1 }, audit, publishEffect(head, next)))) {
    throw conflict('revision_conflict', `"${head.id}" changed while it was being reviewed: read it again and repeat`);
  }
}

/**
 * Approves or rejects the newest revision of a record (editors). Approval makes that revision the one
 * published; it is refused while the record refers to records that are not approved or are retracted,
 * since the release would then hold a dangling reference.
 */
export async function reviewRecord(
  kind: string,
  id: string,
  decision: 'approve' | 'reject',
  note: string | undefined,
  principal: Principal,
  deps: ReviewDeps,
): Promise<Record<string, unknown>> {
  requireEditor(principal);
  const head = await loadHead(deps.records, kind, id);
  if (head.retracted) throw conflict('record_retracted', `"${id}" is retracted and cannot be reviewed`);
  const now = deps.clock.now().toISOString();
  let next: RecordHead;
  if (decision === 'approve') {
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
  await commit(deps, head, next, { id, action: decision, revision: head.revision, by: principal.keyId, at: now, ...(note ? { note } : {}) });
  return recordView(await withFirstPublished(deps, next), principal);
}

/** Retracts a record (editors): it leaves the next release as a `delete` with this reason. */
export async function retractRecord(kind: string, id: string, reason: string, principal: Principal, deps: ReviewDeps): Promise<Record<string, unknown>> {
  requireEditor(principal);
  const head = await loadHead(deps.records, kind, id);
  if (head.retracted) return recordView(head, principal);
  const now = deps.clock.now().toISOString();
  const next: RecordHead = { ...head, retracted: true, retraction: { reason, at: now, by: principal.keyId } };
  await commit(deps, head, next, { id, action: 'retract', revision: head.revision, by: principal.keyId, at: now, note: reason });
  return recordView(await withFirstPublished(deps, next), principal);
}
