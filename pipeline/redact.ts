import { z } from 'zod';
import type { GeoPrecision } from '../schemas/primitives.ts';
import { RECORD_KINDS, RECORD_SCHEMAS, type RecordKind } from '../schemas/records.ts';
import type { RecordHead } from './ports.ts';

/** Fields that never leave the store (DATA.md "What is published, and what never is"). */
const NEVER_PUBLISHED = new Set(['restricted', 'expected_revision', 'submitted_by']);

/**
 * The published fields of each kind: an ALLOW-list taken from the zod schema, so a field that is not
 * part of the contract (or is restricted) can never be copied out, whatever the stored item holds.
 * Derived on first use, not at import: the API functions that load this module at a cold start and never
 * redact (bench id 7) do not pay for the JSON Schema conversion.
 */
let published: Record<RecordKind, string[]> | undefined;
const publishedFields = (): Record<RecordKind, string[]> =>
  (published ??= Object.fromEntries(
    RECORD_KINDS.map((kind) => {
      const props = (z.toJSONSchema(RECORD_SCHEMAS[kind], { io: 'output' }) as { properties: Record<string, unknown> }).properties;
      return [kind, Object.keys(props).filter((f) => !NEVER_PUBLISHED.has(f))];
    }),
  ) as Record<RecordKind, string[]>);

const LOCATION_FIELDS = ['country', 'admin1', 'admin2', 'place', 'latitude', 'longitude', 'geo_precision'] as const;
const PRECISION_ORDER: GeoPrecision[] = ['exact', 'neighbourhood', 'city', 'province', 'country'];
const coarser = (a: GeoPrecision, b: GeoPrecision): GeoPrecision => (PRECISION_ORDER.indexOf(a) >= PRECISION_ORDER.indexOf(b) ? a : b);
const DEAD = new Set(['killed', 'executed']);

/**
 * The version of the redaction rules below. Raise it with every change to what is published: a release
 * state written under other rules makes the next publish rebuild every row from the store, so no row
 * redacted under the old rules is carried into a new release.
 */
export const REDACTION_RULES = 2;

/** A published record: the approved revision's content, redacted, with its server fields. */
export type PublicRecord = Record<string, unknown> & { id: string; kind: RecordKind; revision: number; updated_at: string; first_published: string | null };

/**
 * The public form of a record's content, by every redaction rule of DATA.md:
 * - `restricted`, `submitted_by`, `expected_revision` dropped (by allow-list, not by deletion);
 * - person with `name_disclosure` withheld: `name` and `name_fa` null;
 * - person whose fate is not killed/executed (may be alive): location coarsened to country + admin1;
 * - person both withheld and possibly alive: `facility` and `age` null too (with a province, a gender
 *   and a prison, an age can name a person as surely as a name).
 * Contents are parsed afresh from the store for every head, so values are shared, not copied; the
 * objects that are redacted (location) are rebuilt, never edited in place.
 */
export function redactContent(kind: RecordKind, id: string, content: Record<string, unknown>): Record<string, unknown> & { id: string; kind: RecordKind } {
  const out: Record<string, unknown> = {};
  for (const field of publishedFields()[kind]) if (content[field] !== undefined) out[field] = content[field];
  out.id = id;
  out.kind = kind;
  if (kind === 'person') {
    // Absent or unknown disclosure counts as withheld: the default is withheld, and the safe reading.
    const withheld = out.name_disclosure !== 'public_record' && out.name_disclosure !== 'consent';
    const mayBeAlive = !DEAD.has(out.fate as string);
    if (withheld) {
      out.name = null;
      out.name_fa = null;
    }
    if (withheld && mayBeAlive) {
      out.facility = null;
      out.age = null;
    }
    const loc = out.location as Record<string, unknown> | undefined;
    if (loc && mayBeAlive) {
      const own = (loc.geo_precision as GeoPrecision | undefined) ?? 'province';
      out.location = { country: loc.country ?? null, admin1: loc.admin1 ?? null, admin2: null, place: null, latitude: null, longitude: null, geo_precision: coarser(own, 'province') };
    } else if (loc) {
      out.location = Object.fromEntries(LOCATION_FIELDS.filter((f) => loc[f] !== undefined).map((f) => [f, loc[f]]));
    }
  }
  return out as Record<string, unknown> & { id: string; kind: RecordKind };
}

/** The published form of a record's approved revision, or undefined when nothing may be published (never approved, or retracted). */
export function publicRecord(head: RecordHead, firstPublished: string | null): PublicRecord | undefined {
  if (head.retracted || head.approved_revision === undefined || !head.approved) return undefined;
  const out = redactContent(head.kind, head.id, head.approved as unknown as Record<string, unknown>);
  return { ...out, revision: head.approved_revision, updated_at: head.approved_updated_at ?? head.updated_at, first_published: firstPublished } as PublicRecord;
}
