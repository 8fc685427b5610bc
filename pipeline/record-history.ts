import type { RecordHistory } from '../schemas/api.ts';
import { diff } from './json-patch.ts';
import type { AuditEntry, Principal, RecordStore, ReviewStatus, RevisionEntry } from './ports.ts';
import { editorialContent } from './record-view.ts';
import { loadReadableHead } from './review-record.ts';
import type { RecordSealer } from './sealing.ts';

export interface HistoryDeps {
  records: RecordStore;
  /** Opens every revision's sealed values, for editors only. */
  sealer: RecordSealer;
}

/** A revision's review status now: its last approve or reject, else what it landed as. */
function statusOf(rev: RevisionEntry, audit: ReadonlyArray<AuditEntry>): ReviewStatus {
  const decided = audit.filter((a) => a.revision === rev.revision && (a.action === 'approve' || a.action === 'reject')).at(-1);
  return decided ? (decided.action === 'approve' ? 'approved' : 'rejected') : rev.review_status;
}

/**
 * GET /records/{kind}/{id}/history: every revision with the patch from the one before it, and every
 * approve, reject and retract action, oldest first (editors).
 *
 * A contributor (that submitted a revision of the record) gets only its own revisions, each patch going
 * from its own previous revision (or `{}`) to that one, between their public (redacted) forms: a patch
 * from someone else's revision would tell what that revision holds, and nothing withheld or restricted
 * is echoed back. It gets the actions on its own revisions and the retraction, without the editors'
 * key ids.
 */
export async function recordHistory(kind: string, id: string, principal: Principal, deps: HistoryDeps): Promise<RecordHistory> {
  const head = await loadReadableHead(deps.records, kind, id, principal);
  const [revisions, audit] = await Promise.all([deps.records.listRevisions(id), deps.records.listAudit(id)]);
  if (principal.role === 'editor') {
    // Each revision's values open only as that revision of this record.
    const opened = await Promise.all(revisions.map((r) => deps.sealer.reveal({ id, kind: head.kind, revision: r.revision }, r.content, 'all')));
    return {
      id,
      kind: head.kind,
      revisions: revisions.map((r, i) => ({
        revision: r.revision,
        submitted_at: r.submitted_at,
        submitted_by: r.submitted_by,
        review_status: statusOf(r, audit),
        patch: diff(i === 0 ? {} : opened[i - 1]!, opened[i]!),
      })),
      actions: audit.map((a) => ({ action: a.action, revision: a.revision, by: a.by, at: a.at, ...(a.note !== undefined ? { note: a.note } : {}) })),
    };
  }
  const own = revisions.filter((r) => r.submitted_by === principal.keyId);
  const mine = new Set(own.map((r) => r.revision));
  return {
    id,
    kind: head.kind,
    revisions: own.map((r, i) => ({
      revision: r.revision,
      submitted_at: r.submitted_at,
      submitted_by: principal.keyId,
      review_status: statusOf(r, audit),
      patch: diff(i === 0 ? {} : editorialContent(head, own[i - 1]!.content, principal), editorialContent(head, r.content, principal)),
    })),
    actions: audit
      .filter((a) => a.action === 'retract' || mine.has(a.revision))
      .map((a) => ({ action: a.action, revision: a.revision, at: a.at, ...(a.note !== undefined ? { note: a.note } : {}) })),
  };
}
