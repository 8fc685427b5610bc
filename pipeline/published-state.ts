import type { RecordHead, WriteOptions } from './ports.ts';

/**
 * Whether a write changes what a release holds: the approved revision moved (an approval, an editor's
 * approved submission) or the record was retracted. Pending submissions and rejections change nothing
 * published, so they leave no mark in the change index.
 */
export function publishEffect(before: RecordHead | undefined, after: RecordHead): WriteOptions {
  return { publishChanged: before?.approved_revision !== after.approved_revision || Boolean(before?.retracted) !== after.retracted };
}
