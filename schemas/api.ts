import { z } from 'zod';
import { RecordId, text } from './primitives.ts';
import { RecordKind } from './records.ts';

/**
 * POST /records with Content-Type application/json. The envelope only: each record is validated on its
 * own (validate-record.ts, by the schema of its kind), so one bad record does not refuse the batch.
 */
export const SubmitBody = z
  .strictObject({ records: z.array(z.unknown()).min(1).max(1000).meta({ description: '1–1000 records, each judged on its own by the schema of its kind.' }) })
  .meta({ description: 'A batch of records. As application/x-ndjson: the same records, one per line.' });

const Decision = z.enum(['approve', 'reject']);
const Note = text(0, 1000).meta({ description: 'Why: shown in the record history, to the submitter of the revision too.' });
const RevisionNumber = z.int().min(1);

export const ReviewBody = z.strictObject({
  decision: Decision,
  note: Note.optional(),
  revision: RevisionNumber.optional().meta({ description: 'The revision the editor saw: the decision applies only if it is still the newest, else 409 revision_conflict.' }),
});
export type ReviewBody = z.infer<typeof ReviewBody>;

/** One decision of POST /reviews: judged on its own, like a record of POST /records. */
export const ReviewDecision = z.strictObject({
  kind: RecordKind,
  id: RecordId,
  revision: RevisionNumber.meta({ description: 'The revision the editor saw; a stale one fails with revision_conflict.' }),
  decision: Decision,
  note: Note.optional(),
});
export type ReviewDecision = z.infer<typeof ReviewDecision>;

/** POST /reviews: the envelope; each decision is checked by {@link ReviewDecision} on its own. */
export const ReviewsBody = z.strictObject({ decisions: z.array(z.unknown()).min(1).max(100).meta({ description: '1–100 decisions, each judged on its own.' }) });
export type ReviewsBody = z.infer<typeof ReviewsBody>;

/** POST /publish: an empty body, or `{"full": true}` for a full rebuild from the store's heads. */
export const PublishBody = z.strictObject({ full: z.boolean().optional().meta({ description: 'Rebuild every table from the store instead of from the previous release plus the changes.' }) });
export type PublishBody = z.infer<typeof PublishBody>;

export const RetractBody = z.strictObject({ reason: text(1, 1000) });
export type RetractBody = z.infer<typeof RetractBody>;

export const Role = z.enum(['contributor', 'editor']);

export const CreateKeyBody = z.strictObject({ role: Role, name: text(1, 200) });
export type CreateKeyBody = z.infer<typeof CreateKeyBody>;

export const LIST_STATUSES = ['pending', 'approved', 'rejected', 'retracted', 'any'] as const;

/** A whole number in a query string (digits only: no sign, exponent, spaces or hex). */
const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,6}$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(z.int().min(min).max(max));

/** GET /records: the query string. Unknown parameters are refused. */
export const ListRecordsQuery = z.strictObject({
  status: z.enum(LIST_STATUSES).optional().meta({ description: 'Default pending. `any`: the pending records first, then the others by id. A retracted record is listed only as retracted.' }),
  kind: RecordKind.optional(),
  submitted_by: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,128}$/, { message: 'must be a key id' })
    .optional()
    .meta({ description: 'Editors only: the records this key submitted a revision of.' }),
  limit: queryInt(1, 500).optional().meta({ description: 'Items per page, 1–500; default 100.' }),
  cursor: z.string().min(1).max(4096).optional().meta({ description: 'The next_cursor of the previous page, for the same query.' }),
});
export type ListRecordsQuery = z.infer<typeof ListRecordsQuery>;

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
  retryable: z
    .boolean()
    .optional()
    .meta({ description: 'true when nothing in the record needs changing: it was not written because of a concurrent write (`write_conflict`) or an outage (`store_unavailable`); send it again' }),
});
export type SubmitResultItem = z.infer<typeof SubmitResultItem>;

export const SubmitResult = z.object({ accepted: z.int(), rejected: z.int(), results: z.array(SubmitResultItem) });
export type SubmitResult = z.infer<typeof SubmitResult>;

/** One RFC 6902 operation. */
export const PatchOperation = z.object({
  op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']),
  path: z.string().meta({ description: 'JSON Pointer' }),
  value: z.unknown().optional(),
  from: z.string().optional(),
});
export type PatchOperation = z.infer<typeof PatchOperation>;

export const JsonPatch = z.array(PatchOperation).meta({ description: 'RFC 6902 JSON Patch' });

const ReviewStatus = z.enum(['pending', 'approved', 'rejected']);

/** One item of GET /records. */
export const ListedRecord = z.object({
  id: z.string(),
  kind: RecordKind,
  revision: z.int(),
  review_status: ReviewStatus,
  approved_revision: z.int().nullable(),
  updated_at: z.string(),
  retracted: z.boolean(),
  submitted_by: z.string().optional().meta({ description: 'The key that submitted the newest revision: editors only.' }),
  patch: JsonPatch.meta({ description: 'From the approved revision\'s content (or {}) to the newest revision\'s; operations under /restricted for editors only.' }),
});
export type ListedRecord = z.infer<typeof ListedRecord>;

export const ListRecordsResult = z.object({ items: z.array(ListedRecord), next_cursor: z.string().nullable() });
export type ListRecordsResult = z.infer<typeof ListRecordsResult>;

export const HistoryRevision = z.object({
  revision: z.int(),
  submitted_at: z.string(),
  submitted_by: z.string(),
  review_status: ReviewStatus,
  patch: JsonPatch,
});
export const HistoryAction = z.object({
  action: z.enum(['approve', 'reject', 'retract']),
  revision: z.int(),
  by: z.string().optional().meta({ description: 'The editor: shown to editors only.' }),
  at: z.string(),
  note: z.string().optional(),
});
export const RecordHistory = z.object({ id: z.string(), kind: RecordKind, revisions: z.array(HistoryRevision), actions: z.array(HistoryAction) });
export type RecordHistory = z.infer<typeof RecordHistory>;

export const ReviewsResultItem = z.object({
  index: z.int(),
  id: z.string().optional(),
  status: z.enum(['approved', 'rejected', 'failed']),
  errors: z.array(ErrorItem).optional(),
});
export type ReviewsResultItem = z.infer<typeof ReviewsResultItem>;
export const ReviewsResult = z.object({ results: z.array(ReviewsResultItem) });
export type ReviewsResult = z.infer<typeof ReviewsResult>;

// Answers of the other routes, as GET /openapi.json describes them.

export const ApiInfo = z.object({ name: z.string(), version: z.string().meta({ description: "The software's version" }), public_base_url: z.string(), catalog_url: z.string() });
export const Health = z.object({ ok: z.literal(true) });

/** A record as GET /records/{kind}/{id} answers it: its content (by its kind's schema) plus these server fields. */
export const RecordView = z.looseObject({
  id: z.string(),
  kind: RecordKind,
  revision: z.int(),
  review_status: ReviewStatus,
  created_at: z.string(),
  updated_at: z.string(),
  approved_revision: z.int().nullable(),
  first_published: z.string().nullable(),
  retracted: z.boolean(),
  retraction: z.object({ reason: z.string(), at: z.string() }).optional(),
  submitted_by: z.string().optional().meta({ description: 'Editors only.' }),
  restricted: z.record(z.string(), z.unknown()).optional().meta({ description: 'Editors only.' }),
});

export const OpenApiDocument = z.looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) });

export const CreatedKey = z.object({ key_id: z.string(), key: z.string().meta({ description: 'Shown only here; only its SHA-256 is stored.' }), role: Role });
export const DisabledKey = z.object({ key_id: z.string(), disabled: z.literal(true) });

const Deferred = z.array(z.object({ id: z.string(), reason: z.string() }));
export const PublishAnswer = z.union([
  z.object({ published: z.literal(true), version: z.string(), manifest: z.string(), record_counts: z.record(z.string(), z.int()), changes: z.object({ add: z.int(), modify: z.int(), delete: z.int() }), deferred: Deferred }),
  z.object({ published: z.literal(false), reason: z.string(), deferred: Deferred.optional() }),
]);

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.string(),
  code: z.string().optional(),
  errors: z.array(ErrorItem).optional(),
});
export type Problem = z.infer<typeof Problem>;
