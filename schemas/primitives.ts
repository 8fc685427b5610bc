import { z } from 'zod';

/**
 * C0 controls other than tab, LF and CR, DEL, and the C1 controls (U+0080–U+009F: U+0085 is a line
 * break to some readers, U+009B a terminal escape): never allowed in text (DATA.md "Text", extended).
 */
export const CONTROL_FREE = /^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$/;

/** A free-text string of `min`..`max` characters, free of control characters. */
export const text = (min: number, max: number) =>
  z.string().min(min).max(max).regex(CONTROL_FREE, { message: 'control characters are not allowed' });

export const RecordId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._:-]{2,127}$/, { message: 'id must match ^[a-z0-9][a-z0-9._:-]{2,127}$' })
  .meta({ description: 'Chosen by the submitter, stable forever, never reused; the idempotency key.' });

/** A real calendar date, YYYY-MM-DD (2026-02-30 is refused). */
export const IsoDate = z.iso.date({ message: 'must be a real calendar date YYYY-MM-DD' });

export const HttpUrl = z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' }).max(2048);

/** Every count is an integer 0..2^53−1; unknown is absent, never 0. */
const CountValue = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

export const Count = z
  .strictObject({ low: CountValue.optional(), best: CountValue.optional(), high: CountValue.optional() })
  .check((ctx) => {
    const { low, best, high } = ctx.value;
    if (low === undefined && best === undefined && high === undefined) {
      ctx.issues.push({ code: 'custom', input: ctx.value, path: [], message: 'at least one of low, best, high is required', params: { code: 'count_empty' } });
      return;
    }
    const order = (a: 'low' | 'best', av: number | undefined, b: 'best' | 'high', bv: number | undefined) => {
      if (av !== undefined && bv !== undefined && av > bv) {
        ctx.issues.push({ code: 'custom', input: av, path: [a], message: `${a} must be ≤ ${b}`, params: { code: 'count_order' } });
      }
    };
    order('low', low, 'best', best);
    order('best', best, 'high', high);
    if (best === undefined) order('low', low, 'high', high);
  })
  .meta({ description: 'A count: any of low, best, high (integers ≥ 0, low ≤ best ≤ high); absent when not known, never 0 for unknown.' });
export type Count = z.infer<typeof Count>;

export const GeoPrecision = z.enum(['exact', 'neighbourhood', 'city', 'province', 'country']);
export type GeoPrecision = z.infer<typeof GeoPrecision>;

export const Location = z
  .strictObject({
    country: z.string().regex(/^[A-Z]{2}$/, { message: 'must be an ISO 3166-1 alpha-2 code' }).default('IR'),
    admin1: text(1, 200).optional().meta({ description: 'Province or state.' }),
    admin2: text(1, 200).optional().meta({ description: 'County or city.' }),
    place: text(1, 500).optional().meta({ description: 'District, street or landmark.' }),
    latitude: z.number().min(-90).max(90).optional(),
    longitude: z.number().min(-180).max(180).optional(),
    geo_precision: GeoPrecision.optional().meta({ description: 'Required when coordinates are given.' }),
  })
  .check((ctx) => {
    const { latitude, longitude, geo_precision } = ctx.value;
    if ((latitude === undefined) !== (longitude === undefined)) {
      ctx.issues.push({ code: 'custom', input: ctx.value, path: [], message: 'latitude and longitude go together: give both or neither', params: { code: 'coordinates_pair' } });
    } else if (latitude !== undefined && geo_precision === undefined) {
      ctx.issues.push({ code: 'custom', input: ctx.value, path: [], message: 'geo_precision is required when coordinates are given', params: { code: 'geo_precision_required' } });
    }
  })
  .meta({ description: 'Where: every field optional; country defaults to IR.' });
export type Location = z.infer<typeof Location>;

export const Actor = z.strictObject({
  name: text(1, 200),
  actor_type: z.enum(['state_security', 'military', 'judiciary', 'government', 'protesters', 'civilians', 'armed_group', 'prisoners', 'other']),
  role: z.enum(['perpetrator', 'target', 'participant']),
});
export type Actor = z.infer<typeof Actor>;

export const Restricted = z
  .strictObject({
    submitter_contact: text(0, 4000).optional(),
    witness: text(0, 4000).optional(),
    notes: text(0, 4000).optional(),
  })
  .meta({ description: 'Stored and readable by editors; NEVER published.' });

export const Tags = z.array(text(1, 64)).max(20);

/** 1–50 ids of records of one kind (checked against the store and the same request on ingest). */
export const References = z.array(RecordId).min(1).max(50);
