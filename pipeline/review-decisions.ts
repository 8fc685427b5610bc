import { ReviewDecision, type ReviewsResult, type ReviewsResultItem } from '../schemas/api.ts';
import { toFieldErrors } from '../schemas/validate-record.ts';
import { LedgerError } from './errors.ts';
import type { Principal } from './ports.ts';
import { decideReview, requireEditor, type ReviewDeps } from './review-record.ts';

/** Records decided at once; decisions on the same record run one after the other, in request order. */
const CONCURRENCY = 8;

/** Where in a decision an error without a field of its own points. */
const POINTER_BY_CODE: Record<string, string> = { not_found: '/id', record_retracted: '/id', revision_conflict: '/revision', self_review: '/decision' };

/**
 * POST /reviews: up to 100 decisions, each judged on its own like a record of POST /records: checked
 * against {@link ReviewDecision}, then applied by the same rules as one review (a stale `revision`
 * fails with revision_conflict, self_review under four eyes, …) while the others still apply.
 */
export async function reviewDecisions(raw: ReadonlyArray<unknown>, principal: Principal, deps: ReviewDeps): Promise<ReviewsResult> {
  requireEditor(principal);
  const results: ReviewsResultItem[] = new Array(raw.length);
  const byRecord = new Map<string, Array<{ index: number; decision: ReviewDecision }>>();
  for (const [index, input] of raw.entries()) {
    const parsed = ReviewDecision.safeParse(input);
    if (!parsed.success) {
      const id = (input as { id?: unknown } | null)?.id;
      results[index] = { index, ...(typeof id === 'string' ? { id } : {}), status: 'failed', errors: toFieldErrors(parsed.error.issues, input) };
      continue;
    }
    const key = `${parsed.data.kind}/${parsed.data.id}`;
    byRecord.set(key, [...(byRecord.get(key) ?? []), { index, decision: parsed.data }]);
  }
  const groups = [...byRecord.values()];
  const worker = async () => {
    for (let group = groups.shift(); group; group = groups.shift()) {
      for (const { index, decision: d } of group) {
        try {
          await decideReview(d.kind, d.id, { decision: d.decision, note: d.note, revision: d.revision }, principal, deps);
          results[index] = { index, id: d.id, status: d.decision === 'approve' ? 'approved' : 'rejected' };
        } catch (err) {
          if (!(err instanceof LedgerError)) throw err;
          const errors = err.errors?.length ? err.errors.map(({ path, code, message }) => ({ path, code, message })) : [{ path: POINTER_BY_CODE[err.code] ?? '', code: err.code, message: err.message }];
          results[index] = { index, id: d.id, status: 'failed', errors };
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, groups.length) }, worker));
  return { results };
}
