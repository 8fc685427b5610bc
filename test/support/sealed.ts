import type { Adapters } from '../../storage/adapters.ts';
import type { RecordHead, RevisionEntry } from '../../pipeline/ports.ts';

/** A head as stored, with every sealed value opened (what an editor sees): for tests that compare with stored content. */
export async function openHead(ctx: Pick<Adapters, 'sealer'>, head: RecordHead): Promise<RecordHead> {
  const ref = { id: head.id, kind: head.kind };
  return {
    ...head,
    content: await ctx.sealer.reveal({ ...ref, revision: head.revision }, head.content, 'all'),
    approved: head.approved && head.approved_revision !== undefined ? await ctx.sealer.reveal({ ...ref, revision: head.approved_revision }, head.approved, 'all') : head.approved,
  };
}

/** Revisions as stored, each with its sealed values opened. */
export async function openRevisions(ctx: Pick<Adapters, 'sealer'>, revisions: RevisionEntry[]): Promise<RevisionEntry[]> {
  return Promise.all(revisions.map(async (r) => ({ ...r, content: await ctx.sealer.reveal({ id: r.id, kind: r.kind, revision: r.revision }, r.content, 'all') })));
}
