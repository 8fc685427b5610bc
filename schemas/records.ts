import { z } from 'zod';
import { Actor, Count, HttpUrl, IsoDate, Location, RecordId, References, Restricted, Tags, text } from './primitives.ts';

export const RECORD_KINDS = ['source', 'event', 'claim', 'person'] as const;
export const RecordKind = z.enum(RECORD_KINDS);
export type RecordKind = z.infer<typeof RecordKind>;

/** Fields the server manages: a submitter who sends one is refused at its path with `server_field`. */
export const SERVER_FIELDS = ['revision', 'created_at', 'updated_at', 'review_status', 'submitted_by', 'first_published', 'retracted'] as const;

const common = {
  id: RecordId,
  tags: Tags.optional(),
  restricted: Restricted.optional(),
  expected_revision: z.int().min(1).optional().meta({ description: 'Optimistic concurrency: the write fails unless the stored revision equals it. Not stored.' }),
};

/**
 * Time window rule shared by event (date_start/date_end) and claim (period_start/period_end). It runs
 * even when other fields failed, so one response lists every problem.
 */
const endNotBeforeStart = (start: string, end: string) =>
  [
    (value: unknown, ctx: z.core.$RefinementCtx<unknown>) => {
      const rec = value as Record<string, unknown>;
      const s = rec[start];
      const e = rec[end];
      if (typeof s === 'string' && typeof e === 'string' && e < s) {
        ctx.addIssue({ code: 'custom', input: e, path: [end], message: `${end} must be on or after ${start}`, params: { code: 'date_order' } });
      }
    },
    { when: () => true },
  ] as const;

export const SourceRecord = z
  .strictObject({
    ...common,
    kind: z.literal('source'),
    title: text(1, 500),
    publisher: text(1, 200),
    publisher_type: z.enum(['state_official', 'state_media', 'ngo', 'independent_media', 'opposition_media', 'social_media', 'witness', 'medical', 'legal', 'intl_org', 'other']),
    medium: z.enum(['article', 'report', 'statement', 'post', 'video', 'image', 'testimony', 'document']).default('article'),
    url: HttpUrl.optional(),
    archived_url: HttpUrl.optional(),
    published_on: IsoDate.optional(),
    language: z.string().regex(/^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$/, { message: 'must be a BCP 47 language tag' }).optional(),
    content_sha256: z.string().regex(/^[0-9a-f]{64}$/, { message: 'must be 64 lowercase hex characters' }).optional(),
    reliability: z.enum(['high', 'likely', 'unsure', 'unlikely', 'low', 'unknown']).default('unknown'),
  })
  .meta({ title: 'source', description: 'A document that reports something.' });
export type SourceRecord = z.infer<typeof SourceRecord>;

export const EventRecord = z
  .strictObject({
    ...common,
    kind: z.literal('event'),
    event_type: z.enum(['protest', 'riot', 'armed_clash', 'lethal_force', 'killing', 'execution', 'death_sentence', 'arrest', 'raid', 'internet_shutdown', 'strike', 'arson', 'official_statement', 'other']),
    date_start: IsoDate,
    date_end: IsoDate.optional(),
    date_precision: z.enum(['day', 'week', 'month', 'year']).default('day'),
    location: Location,
    actors: z.array(Actor).max(20).optional(),
    description: text(1, 5000),
    description_fa: text(1, 5000).optional(),
    killed: Count.optional(),
    injured: Count.optional(),
    arrested: Count.optional(),
    verification: z.enum(['confirmed', 'corroborated', 'reported', 'contested', 'discounted']).default('reported'),
    source_ids: References,
  })
  .superRefine(...endNotBeforeStart('date_start', 'date_end'))
  .meta({ title: 'event', description: 'Something that happened at a place and time.' });
export type EventRecord = z.infer<typeof EventRecord>;

export const ClaimRecord = z
  .strictObject({
    ...common,
    kind: z.literal('claim'),
    metric: z.enum(['killed', 'injured', 'arrested', 'executed', 'death_sentenced', 'disappeared', 'other']),
    population: z.enum(['all', 'protesters', 'security_forces', 'civilians', 'women', 'minors', 'prisoners', 'political_prisoners']).default('all'),
    value: Count,
    qualifier: z.enum(['exact', 'at_least', 'approximately', 'up_to', 'range']),
    quote: text(0, 1000).optional(),
    claimant: text(1, 200),
    claimant_type: z.enum(['state_official', 'state_media', 'ngo', 'media', 'opposition', 'intl_org', 'other']),
    period_start: IsoDate,
    period_end: IsoDate.optional(),
    area: Location.optional().meta({ description: 'Absent = the whole country IR.' }),
    event_id: RecordId.optional(),
    source_ids: References,
  })
  .superRefine(...endNotBeforeStart('period_start', 'period_end'))
  .meta({ title: 'claim', description: 'A number that someone published; conflicting tolls sit side by side, never merged.' });
export type ClaimRecord = z.infer<typeof ClaimRecord>;

export const PersonRecord = z
  .strictObject({
    ...common,
    kind: z.literal('person'),
    name: text(1, 200).optional().meta({ description: 'Latin script. Published as null unless name_disclosure is public_record or consent.' }),
    name_fa: text(1, 200).optional().meta({ description: 'Persian script. Published as null unless name_disclosure is public_record or consent.' }),
    name_disclosure: z.enum(['public_record', 'consent', 'withheld']).default('withheld'),
    gender: z.enum(['female', 'male', 'other', 'unknown']).default('unknown'),
    age: z.int().min(0).max(120).optional(),
    fate: z.enum(['killed', 'executed', 'death_row', 'sentenced', 'detained', 'disappeared', 'injured', 'released', 'unknown']),
    fate_date: IsoDate.optional(),
    role: z.enum(['protester', 'bystander', 'political_prisoner', 'prisoner', 'security_forces', 'journalist', 'other']).default('other'),
    affiliation: text(0, 200).optional(),
    facility: text(0, 200).optional().meta({ description: 'Prison or hospital.' }),
    charges: z.array(z.enum(['moharebeh', 'efsad_fil_arz', 'baghy', 'drug_offence', 'murder', 'espionage', 'other'])).optional(),
    location: Location.optional().meta({ description: 'Published coarsened to country + admin1 unless fate is killed or executed.' }),
    event_ids: z.array(RecordId).max(50).optional(),
    source_ids: References,
  })
  .meta({ title: 'person', description: 'One named or unnamed individual.' });
export type PersonRecord = z.infer<typeof PersonRecord>;

/** The schema of each submitted kind, by kind. */
export const RECORD_SCHEMAS = { source: SourceRecord, event: EventRecord, claim: ClaimRecord, person: PersonRecord } as const;

export type LedgerRecord = SourceRecord | EventRecord | ClaimRecord | PersonRecord;

/** What a reference field must point at, per kind: the ingest and publish checks both read this. */
export const REFERENCE_FIELDS: Record<RecordKind, ReadonlyArray<{ field: string; target: RecordKind; many: boolean }>> = {
  source: [],
  event: [{ field: 'source_ids', target: 'source', many: true }],
  claim: [
    { field: 'source_ids', target: 'source', many: true },
    { field: 'event_id', target: 'event', many: false },
  ],
  person: [
    { field: 'source_ids', target: 'source', many: true },
    { field: 'event_ids', target: 'event', many: true },
  ],
};

/** The references of one record, as `{ field, index?, target, id }` with the JSON Pointer of each. */
export function listReferences(rec: LedgerRecord): Array<{ pointer: string; target: RecordKind; id: string }> {
  const out: Array<{ pointer: string; target: RecordKind; id: string }> = [];
  for (const ref of REFERENCE_FIELDS[rec.kind]) {
    const value = (rec as unknown as Record<string, unknown>)[ref.field];
    if (value === undefined) continue;
    if (ref.many) (value as string[]).forEach((id, i) => out.push({ pointer: `/${ref.field}/${i}`, target: ref.target, id }));
    else out.push({ pointer: `/${ref.field}`, target: ref.target, id: value as string });
  }
  return out;
}

/** JSON Schema (2020-12) of a submitted record of `kind`, derived from zod: never written by hand. */
export function recordJsonSchema(kind: RecordKind): Record<string, unknown> {
  return z.toJSONSchema(RECORD_SCHEMAS[kind], { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}
