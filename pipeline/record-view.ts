import type { Principal, RecordHead } from './ports.ts';
import { redactContent } from './redact.ts';

/**
 * Whether a principal may know the newest revision's content as stored: editors, and the contributor
 * that sent it. Everyone else gets at most the redacted form, so nothing it is answered, by this view or
 * by a submission, may depend on the rest (restricted text, withheld names, exact places).
 * @param head - the record's current head
 * @param principal - who asks
 */
export function readsNewestContent(head: RecordHead, principal: Principal): boolean {
  return principal.role === 'editor' || head.submitted_by === principal.keyId;
}

/**
 * The current record as GET /records/{kind}/{id} and the review endpoints answer it: the newest
 * revision's content plus its server fields. Only editors see `restricted` and `submitted_by`. A
 * contributor sees the newest revision as sent only when it sent it; otherwise the redacted form the
 * public gets (withheld names null, living persons located to the province), since having once
 * submitted to an id must not open what others write there later.
 */
export function recordView(head: RecordHead, principal: Principal): Record<string, unknown> {
  const own = readsNewestContent(head, principal);
  const visible = own ? head.content : redactContent(head.kind, head.id, head.content as unknown as Record<string, unknown>);
  const { restricted, ...content } = visible as typeof head.content & { restricted?: unknown };
  const view: Record<string, unknown> = {
    ...content,
    revision: head.revision,
    review_status: head.review_status,
    created_at: head.created_at,
    updated_at: head.updated_at,
    approved_revision: head.approved_revision ?? null,
    first_published: head.first_published ?? null,
    retracted: head.retracted,
  };
  if (head.retraction) view.retraction = { reason: head.retraction.reason, at: head.retraction.at };
  if (principal.role === 'editor') {
    view.submitted_by = head.submitted_by;
    if (restricted !== undefined) view.restricted = restricted;
  }
  return view;
}
