import type { ListRecordsQuery, ListRecordsResult } from '../schemas/api.ts';
import { badRequest, forbidden } from './errors.ts';
import { InvalidCursorError, type Principal, type RecordListing } from './ports.ts';
import { listedRecord, revealForReview } from './record-view.ts';
import type { RecordSealer } from './sealing.ts';

export interface ListDeps {
  listing: RecordListing;
  /** Opens sealed values for the editors' patches. */
  sealer: RecordSealer;
}

export const DEFAULT_LIST_LIMIT = 100;

/**
 * GET /records: the review queue and record listing. Editors list every record (or, with
 * `submitted_by`, those a key submitted a revision of); a contributor lists only records it submitted a
 * revision of, without `submitted_by`, with a patch between the public (redacted) forms of the approved
 * and the newest revision (record-view.ts `editorialContent`). Pending records oldest first, the others
 * by id.
 */
export async function listRecords(query: ListRecordsQuery, principal: Principal, deps: ListDeps): Promise<ListRecordsResult> {
  if (query.submitted_by !== undefined && principal.role !== 'editor') throw forbidden('submitted_by is a filter for editors; a contributor lists its own records without it');
  try {
    const page = await deps.listing.listHeads({
      status: query.status ?? 'pending',
      kind: query.kind,
      submittedBy: principal.role === 'editor' ? query.submitted_by : principal.keyId,
      limit: query.limit ?? DEFAULT_LIST_LIMIT,
      cursor: query.cursor,
    });
    const heads = await Promise.all(page.heads.map((h) => revealForReview(h, principal, deps.sealer)));
    return { items: heads.map((h) => listedRecord(h, principal)), next_cursor: page.cursor ?? null };
  } catch (err) {
    if (err instanceof InvalidCursorError) throw badRequest('invalid_cursor', 'the cursor is not one this listing gave for this query: start again without it', [{ path: '/cursor', code: 'invalid_cursor', message: err.message }]);
    throw err;
  }
}
