import type { ListedRecord } from '../schemas/api.ts';
import { diff, type PatchOperation } from './json-patch.ts';
import type { Principal, RecordHead, StoredContent } from './ports.ts';
import { redactContent } from './redact.ts';
import type { RecordSealer } from './sealing.ts';

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

type Content = Record<string, unknown>;

/**
 * The head with what {@link recordView} shows `principal` opened, and nothing else: everything sealed
 * for editors; for the contributor that sent the newest revision, its withheld names (never
 * `restricted`, which it does not see); for anyone else nothing, since they get the redacted form.
 */
export async function revealNewest(head: RecordHead, principal: Principal, sealer: RecordSealer | undefined): Promise<RecordHead> {
  if (!sealer || !readsNewestContent(head, principal)) return head;
  const scope = principal.role === 'editor' ? 'all' : 'names';
  return { ...head, content: await sealer.reveal({ id: head.id, kind: head.kind, revision: head.revision }, head.content, scope) };
}

/**
 * The head with what {@link listedRecord} shows opened: for editors the newest and the approved
 * revision (the patch between them); for contributors nothing, since they see redacted forms only.
 */
export async function revealForReview(head: RecordHead, principal: Principal, sealer: RecordSealer): Promise<RecordHead> {
  if (principal.role !== 'editor') return head;
  const ref = { id: head.id, kind: head.kind };
  const [content, approved] = await Promise.all([
    sealer.reveal({ ...ref, revision: head.revision }, head.content, 'all'),
    head.approved && head.approved_revision !== undefined ? sealer.reveal({ ...ref, revision: head.approved_revision }, head.approved, 'all') : Promise.resolve(head.approved),
  ]);
  return { ...head, content, approved };
}

/** A content without `restricted`: what a contributor may see of a revision it sent. */
export function withoutRestricted(content: StoredContent | Content): Content {
  const { restricted: _r, ...rest } = content as Content;
  return rest;
}

/**
 * The newest revision's content as `principal` may see it: whole for editors; as sent, less
 * `restricted`, for the contributor that sent it; otherwise the redacted form the public gets.
 */
export function visibleContent(head: RecordHead, principal: Principal): Content {
  if (principal.role === 'editor') return head.content as unknown as Content;
  if (readsNewestContent(head, principal)) return withoutRestricted(head.content);
  return redactContent(head.kind, head.id, head.content as unknown as Content);
}

/**
 * A revision's content as the editorial routes (the listing, the history) show it: whole to editors;
 * to a contributor always the public (redacted) form, even of its own revisions. Those routes then
 * answer a contributor nothing that depends on content it cannot read, nor echo back withheld names or
 * exact places it sent as a guess: an empty patch would otherwise confirm a guess of someone else's
 * content. The record as sent stays readable by its sender through GET /records/{kind}/{id}.
 */
export function editorialContent(head: Pick<RecordHead, 'kind' | 'id'>, content: StoredContent, principal: Principal): Content {
  if (principal.role === 'editor') return content as unknown as Content;
  return redactContent(head.kind, head.id, content as unknown as Content);
}

/**
 * What an editor reviews: the JSON Patch from the approved revision (or `{}`) to the newest, both in
 * the form {@link editorialContent} gives `principal`.
 */
export function reviewPatch(head: RecordHead, principal: Principal): PatchOperation[] {
  return diff(head.approved ? editorialContent(head, head.approved, principal) : {}, editorialContent(head, head.content, principal));
}

/** One item of GET /records. */
export function listedRecord(head: RecordHead, principal: Principal): ListedRecord {
  return {
    id: head.id,
    kind: head.kind,
    revision: head.revision,
    review_status: head.review_status,
    approved_revision: head.approved_revision ?? null,
    updated_at: head.updated_at,
    retracted: head.retracted,
    ...(principal.role === 'editor' ? { submitted_by: head.submitted_by } : {}),
    patch: reviewPatch(head, principal),
  };
}

/**
 * The current record as GET /records/{kind}/{id} and the review endpoints answer it: the newest
 * revision's content plus its server fields. Only editors see `restricted` and `submitted_by`. A
 * contributor sees the newest revision as sent only when it sent it; otherwise the redacted form the
 * public gets (withheld names null, living persons located to the province), since having once
 * submitted to an id must not open what others write there later.
 */
export function recordView(head: RecordHead, principal: Principal): Record<string, unknown> {
  const { restricted, ...content } = visibleContent(head, principal);
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
