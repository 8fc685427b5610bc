// Unit tests of the redaction rules (DATA.md "What is published, and what never is"): what a record looks like in a release.
import { describe, expect, it } from 'vitest';
import type { RecordHead, StoredContent } from '../../pipeline/ports.ts';
import { publicRecord, redactContent } from '../../pipeline/redact.ts';
import { GeoPrecision } from '../../schemas/primitives.ts';
import { PersonRecord, RECORD_KINDS, RECORD_SCHEMAS, type RecordKind } from '../../schemas/records.ts';

// ---------------------------------------------------------------------------------------------------
// The contract, restated here on purpose: the expected outcomes are derived from these tables, never
// from the code under test, so a change to the code's own sets turns these tests red.
// ---------------------------------------------------------------------------------------------------

type Rec = Record<string, unknown>;

/** DATA.md: a person whose fate is `killed` or `executed` is dead; every other fate "may be alive". */
const DEAD_BY_CONTRACT = new Set<string>(['killed', 'executed']);
/** DATA.md: names are published only for these disclosures; anything else (absent included) is withheld. */
const NAMED_BY_CONTRACT = new Set<string>(['public_record', 'consent']);
/** DATA.md: never published, for any kind. */
const NEVER_PUBLISHED = ['restricted', 'submitted_by', 'expected_revision'] as const;
/** DATA.md: a possibly-alive person's `geo_precision` is the coarser of its own and `province` (absent → province). */
const COARSENED_PRECISION: Record<GeoPrecision | 'absent', GeoPrecision> = {
  exact: 'province',
  neighbourhood: 'province',
  city: 'province',
  province: 'province',
  country: 'country',
  absent: 'province',
};

// Enumerations come from the schema, so a new fate or disclosure is covered without editing this file.
const FATES = PersonRecord.shape.fate.options;
const DISCLOSURES = PersonRecord.shape.name_disclosure.unwrap().options;

// ---------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------

const RESTRICTED = { submitter_contact: 'signal: +98 912 000 0000', witness: 'cellmate, seen 2026-01-12', notes: 'family asked for care' };
const FULL_LOCATION = {
  country: 'IR',
  admin1: 'Tehran',
  admin2: 'Tehran',
  place: 'Evin Prison, ward 209',
  latitude: 35.7966,
  longitude: 51.3892,
  geo_precision: 'exact',
};
const COARSE_LOCATION = { country: 'IR', admin1: 'Tehran', admin2: null, place: null, latitude: null, longitude: null, geo_precision: 'province' };

/** A person carrying every contract field, plus everything that must never be published. */
function fullPerson(fate: string, disclosure: string | undefined): Rec {
  const person: Rec = {
    id: 'per-test-1',
    kind: 'person',
    tags: ['uprising-2026', 'tehran'],
    restricted: RESTRICTED,
    expected_revision: 2,
    submitted_by: 'key-submitter-1',
    name: 'Sara Ahmadi',
    name_fa: 'سارا احمدی',
    name_disclosure: disclosure,
    gender: 'female',
    age: 23,
    fate,
    fate_date: '2026-01-09',
    role: 'protester',
    affiliation: 'University of Tehran student council',
    facility: 'Evin Prison',
    charges: ['moharebeh', 'efsad_fil_arz'],
    location: { ...FULL_LOCATION },
    event_ids: ['evt-test-1'],
    source_ids: ['src-test-1', 'src-test-2'],
  };
  if (disclosure === undefined) delete person.name_disclosure;
  return person;
}

/** Every contract field of the other kinds, plus everything that must never be published. */
const FULL_OTHER: Record<Exclude<RecordKind, 'person'>, Rec> = {
  source: {
    id: 'src-test-1',
    kind: 'source',
    tags: ['ngo-report'],
    restricted: RESTRICTED,
    expected_revision: 1,
    submitted_by: 'key-submitter-1',
    title: 'Weekly report on the protests',
    publisher: 'Iran Human Rights',
    publisher_type: 'ngo',
    medium: 'report',
    url: 'https://example.org/report',
    archived_url: 'https://web.archive.org/web/2026/https://example.org/report',
    published_on: '2026-01-10',
    language: 'en',
    content_sha256: 'a'.repeat(64),
    reliability: 'likely',
  },
  event: {
    id: 'evt-test-1',
    kind: 'event',
    tags: ['tehran'],
    restricted: RESTRICTED,
    expected_revision: 3,
    submitted_by: 'key-submitter-1',
    event_type: 'lethal_force',
    date_start: '2026-01-08',
    date_end: '2026-01-09',
    date_precision: 'day',
    location: { ...FULL_LOCATION, place: 'Enghelab Square' },
    actors: [{ name: 'IRGC', actor_type: 'state_security', role: 'perpetrator' }],
    description: 'Security forces fired on protesters.',
    description_fa: 'نیروهای امنیتی به معترضان شلیک کردند.',
    killed: { low: 3, best: 5, high: 9 },
    injured: { best: 40 },
    arrested: { low: 100 },
    verification: 'corroborated',
    source_ids: ['src-test-1'],
  },
  claim: {
    id: 'clm-test-1',
    kind: 'claim',
    tags: ['toll'],
    restricted: RESTRICTED,
    expected_revision: 1,
    submitted_by: 'key-submitter-1',
    metric: 'killed',
    population: 'protesters',
    value: { low: 600, high: 700 },
    qualifier: 'range',
    quote: 'between six and seven hundred',
    claimant: 'Iran Human Rights',
    claimant_type: 'ngo',
    period_start: '2025-12-28',
    period_end: '2026-01-15',
    // A claim's area is not a person's whereabouts: it is published exactly as submitted.
    area: { ...FULL_LOCATION },
    event_id: 'evt-test-1',
    source_ids: ['src-test-1'],
  },
};

/** The record without the fields that are never published. */
function withoutNeverPublished(rec: Rec): Rec {
  const out = { ...rec };
  for (const f of NEVER_PUBLISHED) delete out[f];
  return out;
}

/** The published form the contract asks for, derived from the tables above. */
function expectedPerson(fate: string, disclosure: string | undefined): Rec {
  const withheld = disclosure === undefined || !NAMED_BY_CONTRACT.has(disclosure);
  const mayBeAlive = !DEAD_BY_CONTRACT.has(fate);
  const full = fullPerson(fate, disclosure);
  return {
    ...withoutNeverPublished(full),
    name: withheld ? null : full.name,
    name_fa: withheld ? null : full.name_fa,
    age: withheld && mayBeAlive ? null : full.age,
    facility: withheld && mayBeAlive ? null : full.facility,
    location: mayBeAlive ? COARSE_LOCATION : FULL_LOCATION,
  };
}

function head(overrides: Partial<RecordHead>): RecordHead {
  const approved = fullPerson('detained', 'public_record') as unknown as StoredContent;
  return {
    version: 4,
    id: 'per-test-1',
    kind: 'person',
    revision: 3,
    review_status: 'pending',
    content: fullPerson('released', 'public_record') as unknown as StoredContent,
    content_sha256: 'b'.repeat(64),
    submitted_by: 'key-submitter-1',
    created_at: '2026-01-10T08:00:00.000Z',
    updated_at: '2026-01-20T08:00:00.000Z',
    submitters: ['key-submitter-1'],
    approved_revision: 2,
    approved,
    approved_updated_at: '2026-01-15T08:00:00.000Z',
    retracted: false,
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------

describe('the fixtures', () => {
  it('name only fates and disclosures the schema knows', () => {
    // Assess: a typo in the contract tables would otherwise make a rule vacuous.
    for (const fate of DEAD_BY_CONTRACT) expect(FATES).toContain(fate);
    for (const d of NAMED_BY_CONTRACT) expect(DISCLOSURES).toContain(d);
    expect(Object.keys(COARSENED_PRECISION).filter((p) => p !== 'absent')).toEqual(GeoPrecision.options);
  });

  it.each(RECORD_KINDS)('%s carries every field of its schema and is a valid record', (kind) => {
    const full = kind === 'person' ? fullPerson('detained', 'withheld') : FULL_OTHER[kind];
    const schema = RECORD_SCHEMAS[kind];
    expect(Object.keys(full).sort()).toEqual([...Object.keys(schema.shape), 'submitted_by'].sort());
    expect(schema.safeParse(withoutNeverPublished(full)).success).toBe(true);
  });
});

describe('redactContent: person, every fate × every name_disclosure', () => {
  const cases = FATES.flatMap((fate) => [...DISCLOSURES, undefined].map((disclosure) => ({ fate, disclosure })));

  it.each(cases)('fate $fate, name_disclosure $disclosure: the exact published form', ({ fate, disclosure }) => {
    // Prepare
    const content = fullPerson(fate, disclosure);
    const before = structuredClone(content);

    // Act
    const out = redactContent('person', 'per-test-1', content);

    // Assess
    expect(out).toStrictEqual(expectedPerson(fate, disclosure));
    for (const f of NEVER_PUBLISHED) expect(out).not.toHaveProperty(f);
    expect(content).toStrictEqual(before);
  });

  it('treats a disclosure the contract does not name as withheld', () => {
    const out = redactContent('person', 'per-test-1', fullPerson('detained', 'anonymous'));
    expect(out).toMatchObject({ name: null, name_fa: null, age: null, facility: null });
  });

  it('publishes facility and age as null for a withheld, possibly alive person who had none', () => {
    const content = fullPerson('detained', 'withheld');
    delete content.age;
    delete content.facility;
    const out = redactContent('person', 'per-test-1', content);
    expect(out).toMatchObject({ age: null, facility: null });
  });
});

describe('redactContent: person location', () => {
  const owns = [...GeoPrecision.options, 'absent' as const];

  it.each(owns)('a possibly alive person with own geo_precision %s is published at the coarser of it and province', (own) => {
    // Prepare
    const content = fullPerson('detained', 'public_record');
    const location: Rec = { ...FULL_LOCATION };
    if (own === 'absent') {
      delete location.latitude;
      delete location.longitude;
      delete location.geo_precision;
    } else location.geo_precision = own;
    content.location = location;

    // Act
    const out = redactContent('person', 'per-test-1', content);

    // Assess
    expect(out.location).toStrictEqual({ ...COARSE_LOCATION, geo_precision: COARSENED_PRECISION[own] });
  });

  it.each(GeoPrecision.options)('a dead person keeps own geo_precision %s and the full location', (own) => {
    const content = fullPerson('killed', 'withheld');
    content.location = { ...FULL_LOCATION, geo_precision: own };
    const out = redactContent('person', 'per-test-1', content);
    expect(out.location).toStrictEqual({ ...FULL_LOCATION, geo_precision: own });
  });

  it.each(['killed', 'detained'])('a %s person without a location is published without one', (fate) => {
    const content = fullPerson(fate, 'withheld');
    delete content.location;
    const out = redactContent('person', 'per-test-1', content);
    expect(out).not.toHaveProperty('location');
  });

  it('a possibly alive person with a country-only location keeps no more than that', () => {
    const content = fullPerson('detained', 'withheld');
    content.location = { country: 'IR' };
    const out = redactContent('person', 'per-test-1', content);
    expect(out.location).toStrictEqual({ country: 'IR', admin1: null, admin2: null, place: null, latitude: null, longitude: null, geo_precision: 'province' });
  });
});

describe('redactContent: every kind', () => {
  it.each(Object.keys(FULL_OTHER) as Array<Exclude<RecordKind, 'person'>>)('%s keeps every contract field as is and drops the never-published ones', (kind) => {
    // Prepare
    const content = FULL_OTHER[kind];
    const before = structuredClone(content);

    // Act
    const out = redactContent(kind, content.id as string, content);

    // Assess
    expect(out).toStrictEqual(withoutNeverPublished(content));
    for (const f of NEVER_PUBLISHED) expect(out).not.toHaveProperty(f);
    expect(content).toStrictEqual(before);
  });

  it.each(RECORD_KINDS)('%s copies no field outside the contract, whatever the stored item holds', (kind) => {
    const content: Rec = { ...(kind === 'person' ? fullPerson('killed', 'public_record') : FULL_OTHER[kind]), internal_note: 'editor only', review_status: 'approved' };
    const out = redactContent(kind, content.id as string, content);
    expect(out).not.toHaveProperty('internal_note');
    expect(out).not.toHaveProperty('review_status');
  });

  it('takes id and kind from the arguments', () => {
    const out = redactContent('source', 'src-other-9', FULL_OTHER.source);
    expect(out).toMatchObject({ id: 'src-other-9', kind: 'source' });
  });
});

describe('publicRecord', () => {
  it('publishes the approved revision, redacted, with revision, updated_at and first_published', () => {
    // Act
    const out = publicRecord(head({}), '2026-01-16.1');

    // Assess
    expect(out).toStrictEqual({
      ...expectedPerson('detained', 'public_record'),
      revision: 2,
      updated_at: '2026-01-15T08:00:00.000Z',
      first_published: '2026-01-16.1',
    });
  });

  it('applies the person rules to the approved content', () => {
    const out = publicRecord(head({ approved: fullPerson('sentenced', 'withheld') as unknown as StoredContent }), '2026-01-16.1');
    expect(out).toMatchObject({ name: null, name_fa: null, age: null, facility: null, location: COARSE_LOCATION });
    expect(out).not.toHaveProperty('restricted');
  });

  it('falls back to the head updated_at when the approved revision has none', () => {
    const out = publicRecord(head({ approved_updated_at: undefined }), '2026-01-16.1');
    expect(out?.updated_at).toBe('2026-01-20T08:00:00.000Z');
  });

  it('publishes nothing for a retracted record', () => {
    expect(publicRecord(head({ retracted: true, retraction: { reason: 'duplicate', at: '2026-01-21T00:00:00.000Z', by: 'key-editor-1' } }), '2026-01-16.1')).toBeUndefined();
  });

  it('publishes nothing for a record never approved', () => {
    expect(publicRecord(head({ approved_revision: undefined, approved: undefined, approved_updated_at: undefined }), '2026-01-16.1')).toBeUndefined();
  });

  it('publishes nothing when the approved content is missing', () => {
    expect(publicRecord(head({ approved: undefined }), '2026-01-16.1')).toBeUndefined();
  });
});
