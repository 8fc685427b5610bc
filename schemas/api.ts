import { z } from 'zod';
import { text } from './primitives.ts';
import { RecordKind } from './records.ts';

/** POST /records with Content-Type application/json (records are validated one by one, not here). */
export const SubmitBody = z.strictObject({ records: z.array(z.unknown()).min(1).max(1000) });

export const ReviewBody = z.strictObject({
  decision: z.enum(['approve', 'reject']),
  note: text(0, 1000).optional(),
});
export type ReviewBody = z.infer<typeof ReviewBody>;

/** POST /publish: an empty body, or `{"full": true}` for a full rebuild from the store's heads. */
export const PublishBody = z.strictObject({ full: z.boolean().optional().meta({ description: 'Rebuild every table from the store instead of from the previous release plus the changes.' }) });
export type PublishBody = z.infer<typeof PublishBody>;

export const RetractBody = z.strictObject({ reason: text(1, 1000) });
export type RetractBody = z.infer<typeof RetractBody>;

export const Role = z.enum(['contributor', 'editor']);

export const CreateKeyBody = z.strictObject({ role: Role, name: text(1, 200) });
export type CreateKeyBody = z.infer<typeof CreateKeyBody>;

export const ErrorItem = z.object({
  path: z.string().meta({ description: 'JSON Pointer into the record (or the body)' }),
  message: z.string(),
  code: z.string().meta({ description: 'stable machine-readable word' }),
  line: z.int().optional(),
});

export const SubmitResultItem = z.object({
  index: z.int(),
  id: z.string().optional(),
  kind: RecordKind.optional(),
  status: z.enum(['created', 'updated', 'unchanged', 'rejected']),
  revision: z.int().optional(),
  review_status: z.enum(['pending', 'approved', 'rejected']).optional(),
  errors: z.array(ErrorItem).optional(),
});
export type SubmitResultItem = z.infer<typeof SubmitResultItem>;

export const SubmitResult = z.object({ accepted: z.int(), rejected: z.int(), results: z.array(SubmitResultItem) });
export type SubmitResult = z.infer<typeof SubmitResult>;

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.string(),
  code: z.string().optional(),
  errors: z.array(ErrorItem).optional(),
});
export type Problem = z.infer<typeof Problem>;
