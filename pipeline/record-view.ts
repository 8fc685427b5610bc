import type { Principal, RecordHead } from './ports.ts';

/**
 * The current record as GET /records/{kind}/{id} and the review endpoints answer it: the newest
 * revision's content plus its server fields. Only editors see `restricted` and `submitted_by`.
 */
export function recordView(head: RecordHead, principal: Principal): Record<string, unknown> {
  const { restricted, ...content } = head.content as typeof head.content & { restricted?: unknown };
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
