// Unit tests of the record schemas against DATA.md: every rule, valid and invalid, for all four kinds.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { CreateKeyBody, ErrorItem, RetractBody, ReviewBody, SubmitBody } from '../../schemas/api.ts';
import { RECORD_KINDS, SERVER_FIELDS, listReferences, recordJsonSchema, type LedgerRecord, type RecordKind } from '../../schemas/records.ts';
import { MAX_DEPTH, toPointer, validateRecord, type FieldError } from '../../schemas/validate-record.ts';

// ---------------------------------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------------------------------

type Rec = Record<string, unknown>;

/** The smallest valid record of each kind: only the required fields. */
const MINIMAL: Record<RecordKind, Rec> = {
  source: { id: 'src-test-1', kind: 'source', title: 'A report', publisher: 'Iran Human Rights', publisher_type: 'ngo' },
  event: {
    id: 'evt-test-1',
    kind: 'event',
    event_type: 'protest',
    date_start: '2026-01-08',
    location: {},
    description: 'Protesters gathered in the city centre.',
    source_ids: ['src-test-1'],
  },
  claim: {
    id: 'clm-test-1',
    kind: 'claim',
    metric: 'killed',
    value: { best: 650 },
    qualifier: 'approximately',
    claimant: 'Iran Human Rights',
    claimant_type: 'ngo',
    period_start: '2025-12-28',
    source_ids: ['src-test-1'],
  },
  person: { id: 'per-test-1', kind: 'person', fate: 'detained', source_ids: ['src-test-1'] },
};

/** A valid record of each kind with every field set (no defaults left to fill). */
const FULL: Record<RecordKind, Rec> = {
  source: {
    ...MINIMAL.source,
    medium: 'report',
    url: 'https://example.org/reports/2026/01/13?lang=en#top',
    archived_url: 'http://archive.example.org/web/2026/https://example.org/reports',
    published_on: '2026-01-13',
    language: 'en',
    content_sha256: '0123456789abcdef'.repeat(4),
    reliability: 'likely',
    tags: ['iran-2025-2026', 'seed-002'],
    restricted: { submitter_contact: 'someone@example.org', witness: 'A witness', notes: 'Editor notes' },
    expected_revision: 2,
  },
  event: {
    ...MINIMAL.event,
    date_end: '2026-01-09',
    date_precision: 'week',
    location: { country: 'IR', admin1: 'Tehran', admin2: 'Tehran', place: 'Haft Howz', latitude: 35.7, longitude: 51.4, geo_precision: 'city' },
    actors: [
      { name: 'Security forces', actor_type: 'state_security', role: 'perpetrator' },
      { name: 'Protesters', actor_type: 'protesters', role: 'target' },
    ],
    description_fa: 'معترضان در مرکز شهر تجمع کردند.',
    killed: { low: 2, best: 5, high: 9 },
    injured: { low: 10 },
    arrested: { best: 0 },
    verification: 'corroborated',
    tags: ['iran-2025-2026'],
    restricted: { notes: 'n' },
    expected_revision: 1,
  },
  claim: {
    ...MINIMAL.claim,
    population: 'protesters',
    value: { low: 600, best: 650, high: 700 },
    qualifier: 'range',
    quote: 'around 650',
    period_end: '2026-01-13',
    area: { country: 'IR', admin1: 'Kermanshah', admin2: 'Kermanshah', place: 'Square', latitude: 34.3, longitude: 47.1, geo_precision: 'city' },
    event_id: 'evt-test-1',
    tags: ['x'],
    restricted: { witness: 'w' },
    expected_revision: 3,
  },
  person: {
    ...MINIMAL.person,
    name: 'Jane Doe',
    name_fa: 'جین دو',
    name_disclosure: 'consent',
    gender: 'female',
    age: 30,
    fate_date: '2026-01-09',
    role: 'journalist',
    affiliation: 'A newspaper',
    facility: 'Evin Prison',
    charges: ['moharebeh', 'espionage'],
    location: { country: 'IR', admin1: 'Tehran', admin2: 'Tehran', place: 'Evin', latitude: 35.79, longitude: 51.39, geo_precision: 'neighbourhood' },
    event_ids: ['evt-test-1'],
    tags: ['t'],
    restricted: { submitter_contact: 'c' },
    expected_revision: 1,
  },
};

const clone = <T>(v: T): T => structuredClone(v);

/** Splits an RFC 6901 JSON Pointer into its reference tokens. */
function tokens(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** A copy of `base` with the value at `pointer` set (intermediate objects are created). */
function withValue(base: Rec, pointer: string, value: unknown): Rec {
  const out = clone(base);
  const path = tokens(pointer);
  let node: Record<string, unknown> = out;
  for (const key of path.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  Object.defineProperty(node, path.at(-1)!, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

/** A copy of `base` without the value at `pointer`. */
function withoutValue(base: Rec, pointer: string): Rec {
  const out = clone(base);
  const path = tokens(pointer);
  let node: Record<string, unknown> = out;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  delete node[path.at(-1)!];
  return out;
}

/** Asserts the contract's shape of an error list: every error has a pointer, a stable code and a sentence. */
function assertErrorShape(errors: ReadonlyArray<FieldError>): void {
  expect(errors.length).toBeGreaterThan(0);
  for (const e of errors) {
    expect(Object.keys(e).sort()).toEqual(['code', 'message', 'path']);
    expect(typeof e.path).toBe('string');
    expect(e.path === '' || e.path.startsWith('/')).toBe(true);
    expect(e.code).toMatch(/^[a-z][a-z0-9_]*$/);
    expect(typeof e.message).toBe('string');
    expect(e.message.length).toBeGreaterThan(0);
    expect(ErrorItem.safeParse(e).success).toBe(true);
  }
}

/** Validates a record that must be refused; returns its errors (shape already checked). */
function errorsOf(input: unknown): FieldError[] {
  const v = validateRecord(input);
  expect(v.ok, `expected a refusal, got ${JSON.stringify(v)}`).toBe(false);
  if (v.ok) throw new Error('unreachable');
  assertErrorShape(v.errors);
  return v.errors;
}

/** Validates a record that must be accepted; returns the normalised record. */
function accepted(input: unknown): LedgerRecord & Rec {
  const v = validateRecord(input);
  if (!v.ok) expect.fail(`expected the record to be accepted, got ${JSON.stringify(v.errors)}`);
  return v.record as LedgerRecord & Rec;
}

/** Asserts that `errors` holds an error with this path and code. */
function expectError(errors: ReadonlyArray<FieldError>, path: string, code: string): void {
  expect(errors, JSON.stringify(errors)).toContainEqual({ path, code, message: expect.any(String) });
}

/** Asserts that `errors` is exactly one error, with this path and code. */
function expectOnlyError(errors: ReadonlyArray<FieldError>, path: string, code: string): void {
  expect(errors, JSON.stringify(errors)).toEqual([{ path, code, message: expect.any(String) }]);
}

// The enums of DATA.md, written out from the contract (not from the code).
const ENUMS = {
  publisher_type: ['state_official', 'state_media', 'ngo', 'independent_media', 'opposition_media', 'social_media', 'witness', 'medical', 'legal', 'intl_org', 'other'],
  medium: ['article', 'report', 'statement', 'post', 'video', 'image', 'testimony', 'document'],
  reliability: ['high', 'likely', 'unsure', 'unlikely', 'low', 'unknown'],
  event_type: ['protest', 'riot', 'armed_clash', 'lethal_force', 'killing', 'execution', 'death_sentence', 'arrest', 'raid', 'internet_shutdown', 'strike', 'arson', 'official_statement', 'other'],
  date_precision: ['day', 'week', 'month', 'year'],
  verification: ['confirmed', 'corroborated', 'reported', 'contested', 'discounted'],
  geo_precision: ['exact', 'neighbourhood', 'city', 'province', 'country'],
  actor_type: ['state_security', 'military', 'judiciary', 'government', 'protesters', 'civilians', 'armed_group', 'prisoners', 'other'],
  actor_role: ['perpetrator', 'target', 'participant'],
  metric: ['killed', 'injured', 'arrested', 'executed', 'death_sentenced', 'disappeared', 'other'],
  population: ['all', 'protesters', 'security_forces', 'civilians', 'women', 'minors', 'prisoners', 'political_prisoners'],
  qualifier: ['exact', 'at_least', 'approximately', 'up_to', 'range'],
  claimant_type: ['state_official', 'state_media', 'ngo', 'media', 'opposition', 'intl_org', 'other'],
  name_disclosure: ['public_record', 'consent', 'withheld'],
  gender: ['female', 'male', 'other', 'unknown'],
  fate: ['killed', 'executed', 'death_row', 'sentenced', 'detained', 'disappeared', 'injured', 'released', 'unknown'],
  person_role: ['protester', 'bystander', 'political_prisoner', 'prisoner', 'security_forces', 'journalist', 'other'],
  charges: ['moharebeh', 'efsad_fil_arz', 'baghy', 'drug_offence', 'murder', 'espionage', 'other'],
} as const;

/** Every enum-valued field: the kind, its JSON Pointer in FULL[kind], and its values. */
const ENUM_FIELDS: Array<[RecordKind, string, readonly string[]]> = [
  ['source', '/publisher_type', ENUMS.publisher_type],
  ['source', '/medium', ENUMS.medium],
  ['source', '/reliability', ENUMS.reliability],
  ['event', '/event_type', ENUMS.event_type],
  ['event', '/date_precision', ENUMS.date_precision],
  ['event', '/verification', ENUMS.verification],
  ['event', '/location/geo_precision', ENUMS.geo_precision],
  ['event', '/actors/0/actor_type', ENUMS.actor_type],
  ['event', '/actors/1/role', ENUMS.actor_role],
  ['claim', '/metric', ENUMS.metric],
  ['claim', '/population', ENUMS.population],
  ['claim', '/qualifier', ENUMS.qualifier],
  ['claim', '/claimant_type', ENUMS.claimant_type],
  ['claim', '/area/geo_precision', ENUMS.geo_precision],
  ['person', '/name_disclosure', ENUMS.name_disclosure],
  ['person', '/gender', ENUMS.gender],
  ['person', '/fate', ENUMS.fate],
  ['person', '/role', ENUMS.person_role],
  ['person', '/charges/1', ENUMS.charges],
  ['person', '/location/geo_precision', ENUMS.geo_precision],
];

/** Required fields per kind (DATA.md), as JSON Pointers into MINIMAL/FULL. */
const REQUIRED: Record<RecordKind, string[]> = {
  source: ['/id', '/title', '/publisher', '/publisher_type'],
  event: ['/id', '/event_type', '/date_start', '/location', '/description', '/source_ids'],
  claim: ['/id', '/metric', '/value', '/qualifier', '/claimant', '/claimant_type', '/period_start', '/source_ids'],
  person: ['/id', '/fate', '/source_ids'],
};

const kindCases = RECORD_KINDS.map((k) => [k] as [RecordKind]);

// ---------------------------------------------------------------------------------------------------
// Valid records
// ---------------------------------------------------------------------------------------------------

describe('valid records', () => {
  it.each(kindCases)('accepts a minimal %s (only required fields)', (kind) => {
    // Prepare
    const input = clone(MINIMAL[kind]);
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec.id).toBe(input.id);
    expect(rec.kind).toBe(kind);
  });

  it.each(kindCases)('accepts a %s with every field set, and keeps every value', (kind) => {
    // Prepare
    const input = clone(FULL[kind]);
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec).toEqual(input);
  });

  it.each(kindCases)('does not modify the submitted %s object', (kind) => {
    // Prepare
    const input = withValue(MINIMAL[kind], '/tags', ['Cafe\u0301']);
    const before = clone(input);
    // Act
    validateRecord(input);
    // Assess
    expect(input).toEqual(before);
  });

  it('keeps expected_revision on the validated record (the ingest strips it before storing)', () => {
    // Prepare
    const input = withValue(MINIMAL.source, '/expected_revision', 7);
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec.expected_revision).toBe(7);
  });

  it.each(ENUM_FIELDS)('%s %s accepts every value DATA.md lists', (kind, pointer, values) => {
    for (const value of values) {
      // Prepare
      const input = withValue(FULL[kind], pointer, value);
      // Act
      const v = validateRecord(input);
      // Assess
      expect(v.ok, `${pointer} = ${value}: ${JSON.stringify(v)}`).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------------

describe('defaults are filled on success', () => {
  it('source: medium article, reliability unknown', () => {
    // Prepare
    const input = clone(MINIMAL.source);
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec).toMatchObject({ medium: 'article', reliability: 'unknown' });
  });

  it('event: date_precision day, verification reported, location.country IR', () => {
    // Prepare
    const input = clone(MINIMAL.event);
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec).toMatchObject({ date_precision: 'day', verification: 'reported', location: { country: 'IR' } });
  });

  it('claim: population all; an area without country gets IR; an absent area stays absent', () => {
    // Prepare
    const withArea = withValue(MINIMAL.claim, '/area', { admin1: 'Tehran' });
    // Act
    const a = accepted(withArea);
    const b = accepted(clone(MINIMAL.claim));
    // Assess
    expect(a).toMatchObject({ population: 'all', area: { country: 'IR', admin1: 'Tehran' } });
    expect(b.population).toBe('all');
    expect(b).not.toHaveProperty('area');
  });

  it('person: name_disclosure withheld, gender unknown, role other; a location without country gets IR', () => {
    // Prepare
    const input = withValue(MINIMAL.person, '/location', { admin1: 'Alborz' });
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec).toMatchObject({ name_disclosure: 'withheld', gender: 'unknown', role: 'other', location: { country: 'IR', admin1: 'Alborz' } });
  });

  it('a default never overrides a submitted value', () => {
    // Prepare
    const src = withValue(withValue(MINIMAL.source, '/medium', 'video'), '/reliability', 'low');
    const evt = withValue(MINIMAL.event, '/location', { country: 'FR' });
    // Act
    const s = accepted(src);
    const e = accepted(evt);
    // Assess
    expect(s).toMatchObject({ medium: 'video', reliability: 'low' });
    expect(e).toMatchObject({ location: { country: 'FR' } });
  });

  it('does not invent optional fields that have no default (counts stay absent, never 0)', () => {
    // Prepare
    const input = clone(MINIMAL.event);
    // Act
    const rec = accepted(input);
    // Assess
    for (const field of ['killed', 'injured', 'arrested', 'date_end', 'actors', 'tags', 'restricted']) expect(rec).not.toHaveProperty(field);
  });
});

// ---------------------------------------------------------------------------------------------------
// Required fields, kind, non-objects
// ---------------------------------------------------------------------------------------------------

describe('required fields', () => {
  const cases = RECORD_KINDS.flatMap((kind) => REQUIRED[kind].map((pointer) => [kind, pointer] as [RecordKind, string]));

  it.each(cases)('%s without %s → required at its pointer', (kind, pointer) => {
    // Prepare
    const input = withoutValue(MINIMAL[kind], pointer);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'required');
  });

  it.each([['/actors/0/name'], ['/actors/0/actor_type'], ['/actors/0/role']])('event actor without %s → required', (pointer) => {
    // Prepare
    const input = withoutValue(FULL.event, pointer);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'required');
  });

  it.each(kindCases)('a %s with only its kind lists every missing required field at once', (kind) => {
    // Prepare
    const input = { kind };
    // Act
    const errors = errorsOf(input);
    // Assess
    expect(errors.map((e) => e.path).sort()).toEqual([...REQUIRED[kind]].sort());
    for (const e of errors) expect(e.code, e.path).toBe('required');
  });

  it('missing kind → required at /kind', () => {
    // Prepare
    const input = withoutValue(MINIMAL.source, '/kind');
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/kind', 'required');
  });

  it.each([['victim'], ['Source'], ['sources'], ['']])('unknown kind %j → unknown_kind at /kind', (kind) => {
    // Prepare
    const input = withValue(MINIMAL.source, '/kind', kind);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/kind', 'unknown_kind');
  });

  it.each([[null], [[]], [[MINIMAL.source]], ['a record'], [42], [true], [undefined]])('a non-object record %j → invalid_type at ""', (input) => {
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '', 'invalid_type');
  });

  it('a failure echoes the kind and the id it could read', () => {
    // Prepare
    const input = withValue(MINIMAL.event, '/colour', 'red');
    // Act
    const v = validateRecord(input);
    // Assess
    expect(v).toMatchObject({ ok: false, kind: 'event', id: 'evt-test-1' });
  });
});

// ---------------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------------

describe('enums', () => {
  const wrong = ENUM_FIELDS.flatMap(([kind, pointer]) => [
    [kind, pointer, 'not_a_value'],
    [kind, pointer, 'Other'], // case matters
    [kind, pointer, ''],
  ] as Array<[RecordKind, string, string]>);

  it.each(wrong)('%s %s = %j → invalid_value at its pointer', (kind, pointer, value) => {
    // Prepare
    const input = withValue(FULL[kind], pointer, value);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'invalid_value');
  });

  it('an enum given a number → refused at its pointer', () => {
    // Prepare
    const input = withValue(MINIMAL.person, '/fate', 3);
    // Act
    const errors = errorsOf(input);
    // Assess
    expect(errors.map((e) => e.path)).toEqual(['/fate']);
  });

  it('charges must be an array of enum values', () => {
    // Prepare
    const input = withValue(MINIMAL.person, '/charges', 'moharebeh');
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/charges', 'invalid_type');
  });
});

// ---------------------------------------------------------------------------------------------------
// String and array bounds
// ---------------------------------------------------------------------------------------------------

describe('string lengths at the edge', () => {
  /** [kind, pointer, min, max] from DATA.md. */
  const bounds: Array<[RecordKind, string, number, number]> = [
    ['source', '/title', 1, 500],
    ['source', '/publisher', 1, 200],
    ['event', '/description', 1, 5000],
    ['event', '/description_fa', 1, 5000],
    ['event', '/actors/0/name', 1, 200],
    ['event', '/location/admin1', 1, 200],
    ['event', '/location/admin2', 1, 200],
    ['claim', '/quote', 0, 1000],
    ['claim', '/claimant', 1, 200],
    ['claim', '/area/admin1', 1, 200],
    ['person', '/name', 1, 200],
    ['person', '/name_fa', 1, 200],
    ['person', '/affiliation', 0, 200],
    ['person', '/facility', 0, 200],
    ['person', '/location/admin2', 1, 200],
    ['source', '/restricted/submitter_contact', 0, 4000],
    ['event', '/restricted/witness', 0, 4000],
    ['claim', '/restricted/notes', 0, 4000],
    ['person', '/restricted/notes', 0, 4000],
    ['source', '/tags/0', 1, 64],
    ['person', '/tags/0', 1, 64],
  ];

  it.each(bounds)('%s %s: %i..%i characters accepted at both edges', (kind, pointer, min, max) => {
    for (const n of [min, max]) {
      // Prepare
      const input = withValue(FULL[kind], pointer, 'x'.repeat(n));
      // Act
      const v = validateRecord(input);
      // Assess
      expect(v.ok, `${pointer} of ${n}: ${JSON.stringify(v.ok ? '' : v.errors)}`).toBe(true);
    }
  });

  it.each(bounds)('%s %s: max %4$i + 1 characters → too_big', (kind, pointer, _min, max) => {
    // Prepare
    const input = withValue(FULL[kind], pointer, 'x'.repeat(max + 1));
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'too_big');
  });

  it.each(bounds.filter(([, , min]) => min === 1))('%s %s: the empty string → too_small', (kind, pointer) => {
    // Prepare
    const input = withValue(FULL[kind], pointer, '');
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'too_small');
  });

  it('counts characters, not UTF-16 code units: 500 emoji make a valid title, 501 do not', () => {
    // Prepare
    const ok = withValue(MINIMAL.source, '/title', '😀'.repeat(500));
    const bad = withValue(MINIMAL.source, '/title', '😀'.repeat(501));
    // Act
    const v = validateRecord(ok);
    const errors = errorsOf(bad);
    // Assess
    expect(v.ok).toBe(true);
    expectOnlyError(errors, '/title', 'too_big');
  });

  it('a string field given a number or a boolean → invalid_type', () => {
    // Prepare
    const a = withValue(MINIMAL.source, '/title', 42);
    const b = withValue(MINIMAL.claim, '/claimant', false);
    // Act
    const ea = errorsOf(a);
    const eb = errorsOf(b);
    // Assess
    expectOnlyError(ea, '/title', 'invalid_type');
    expectOnlyError(eb, '/claimant', 'invalid_type');
  });
});

describe('tags', () => {
  it('accepts 20 tags, refuses 21 → too_big at /tags', () => {
    // Prepare
    const twenty = Array.from({ length: 20 }, (_, i) => `tag-${i}`);
    const ok = withValue(MINIMAL.event, '/tags', twenty);
    const bad = withValue(MINIMAL.event, '/tags', [...twenty, 'one-more']);
    // Act
    const v = validateRecord(ok);
    const errors = errorsOf(bad);
    // Assess
    expect(v.ok).toBe(true);
    expectOnlyError(errors, '/tags', 'too_big');
  });

  it('reports a bad tag at its index', () => {
    // Prepare
    const input = withValue(MINIMAL.claim, '/tags', ['ok', 'fine', 'y'.repeat(65)]);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/tags/2', 'too_big');
  });

  it('tags must be an array of strings', () => {
    // Prepare
    const a = withValue(MINIMAL.source, '/tags', 'single');
    const b = withValue(MINIMAL.source, '/tags', ['ok', 5]);
    // Act
    const ea = errorsOf(a);
    const eb = errorsOf(b);
    // Assess
    expectOnlyError(ea, '/tags', 'invalid_type');
    expectOnlyError(eb, '/tags/1', 'invalid_type');
  });
});

describe('array bounds', () => {
  it('actors: 20 accepted, 21 → too_big at /actors', () => {
    // Prepare
    const actor = { name: 'A', actor_type: 'civilians', role: 'target' };
    const ok = withValue(MINIMAL.event, '/actors', Array.from({ length: 20 }, () => ({ ...actor })));
    const bad = withValue(MINIMAL.event, '/actors', Array.from({ length: 21 }, () => ({ ...actor })));
    // Act
    const v = validateRecord(ok);
    const errors = errorsOf(bad);
    // Assess
    expect(v.ok).toBe(true);
    expectOnlyError(errors, '/actors', 'too_big');
  });

  it.each([['event'], ['claim'], ['person']] as Array<[RecordKind]>)('%s source_ids: 1 and 50 accepted; 0 → too_small, 51 → too_big', (kind) => {
    // Prepare
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `src-${i}`);
    // Act
    const one = validateRecord(withValue(MINIMAL[kind], '/source_ids', ids(1)));
    const fifty = validateRecord(withValue(MINIMAL[kind], '/source_ids', ids(50)));
    const none = errorsOf(withValue(MINIMAL[kind], '/source_ids', []));
    const tooMany = errorsOf(withValue(MINIMAL[kind], '/source_ids', ids(51)));
    // Assess
    expect(one.ok).toBe(true);
    expect(fifty.ok).toBe(true);
    expectOnlyError(none, '/source_ids', 'too_small');
    expectOnlyError(tooMany, '/source_ids', 'too_big');
  });

  it('references must be ids: a bad one is reported at its index', () => {
    // Prepare
    const evt = withValue(MINIMAL.event, '/source_ids', ['src-ok', 'BAD ID']);
    const clm = withValue(MINIMAL.claim, '/event_id', 'Evt-Upper');
    const per = withValue(MINIMAL.person, '/event_ids', ['evt-ok', 'evt-ok-2', '-x']);
    // Act
    const ee = errorsOf(evt);
    const ec = errorsOf(clm);
    const ep = errorsOf(per);
    // Assess
    expectOnlyError(ee, '/source_ids/1', 'invalid_format');
    expectOnlyError(ec, '/event_id', 'invalid_format');
    expectOnlyError(ep, '/event_ids/2', 'invalid_format');
  });
});

// ---------------------------------------------------------------------------------------------------
// id
// ---------------------------------------------------------------------------------------------------

describe('id pattern ^[a-z0-9][a-z0-9._:-]{2,127}$', () => {
  it.each([['abc'], ['0ab'], ['src-iranhr-2026-01-13'], ['a.b:c-d'], ['abc_def'], ['x'.repeat(128)], ['9'.repeat(3)]])('accepts %j', (id) => {
    // Prepare
    const input = withValue(MINIMAL.source, '/id', id);
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec.id).toBe(id);
  });

  it.each([
    ['uppercase', 'Src-abc'],
    ['all uppercase', 'ABC'],
    ['too short (2)', 'ab'],
    ['too short (1)', 'a'],
    ['empty', ''],
    ['leading dash', '-abc'],
    ['leading dot', '.abc'],
    ['leading colon', ':abc'],
    ['129 characters', 'x'.repeat(129)],
    ['a space', 'abc def'],
    ['a slash', 'abc/def'],
    ['non-ASCII', 'abç'],
  ])('refuses an id with %s → invalid_format at /id', (_what, id) => {
    // Prepare
    const input = withValue(MINIMAL.source, '/id', id);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/id', 'invalid_format');
  });

  it('a numeric id → invalid_type at /id', () => {
    // Prepare
    const input = withValue(MINIMAL.person, '/id', 123);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/id', 'invalid_type');
  });
});

// ---------------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------------

describe('dates', () => {
  /** Every date field; for end dates, the start is moved far back so that no order rule fires. */
  const dateFields: Array<[RecordKind, string, Rec]> = [
    ['source', '/published_on', {}],
    ['event', '/date_start', {}],
    ['event', '/date_end', { date_start: '1900-01-01' }],
    ['claim', '/period_start', {}],
    ['claim', '/period_end', { period_start: '1900-01-01' }],
    ['person', '/fate_date', {}],
  ];
  const good = ['2024-02-29', '2000-02-29', '2026-12-31', '2026-01-01', '2026-04-30'];
  const bad = ['2026-02-30', '2025-02-29', '1900-02-29', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-32', '2026-01-00', '2026-1-5', '26-01-05', '2026/01/05', '05-01-2026', '2026-01-05T00:00:00Z', ' 2026-01-05', 'yesterday', ''];

  it.each(dateFields)('%s %s accepts real calendar dates', (kind, pointer, extra) => {
    for (const date of good) {
      // Prepare
      const input = withValue({ ...MINIMAL[kind], ...extra }, pointer, date);
      // Act
      const v = validateRecord(input);
      // Assess
      expect(v.ok, `${pointer} = ${date}: ${JSON.stringify(v)}`).toBe(true);
    }
  });

  it.each(dateFields.flatMap(([k, p, x]) => bad.map((d) => [k, p, d, x] as [RecordKind, string, string, Rec])))(
    '%s %s = %j → invalid_format',
    (kind, pointer, date, extra) => {
      // Prepare
      const input = withValue({ ...MINIMAL[kind], ...extra }, pointer, date);
      // Act
      const errors = errorsOf(input);
      // Assess
      expectError(errors, pointer, 'invalid_format');
      expect(errors.filter((e) => e.path !== pointer)).toEqual([]);
    },
  );

  it('a date given as a number → invalid_type', () => {
    // Prepare
    const input = withValue(MINIMAL.event, '/date_start', 20260108);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/date_start', 'invalid_type');
  });

  it('event: date_end before date_start → date_order at /date_end; equal or later is fine', () => {
    // Prepare
    const before = { ...MINIMAL.event, date_start: '2026-01-08', date_end: '2026-01-07' };
    const same = { ...MINIMAL.event, date_start: '2026-01-08', date_end: '2026-01-08' };
    const later = { ...MINIMAL.event, date_start: '2025-12-31', date_end: '2026-01-01' };
    // Act
    const errors = errorsOf(before);
    // Assess
    expectOnlyError(errors, '/date_end', 'date_order');
    expect(validateRecord(same).ok).toBe(true);
    expect(validateRecord(later).ok).toBe(true);
  });

  it('claim: period_end before period_start → date_order at /period_end; equal is fine', () => {
    // Prepare
    const before = { ...MINIMAL.claim, period_start: '2026-01-13', period_end: '2025-12-28' };
    const same = { ...MINIMAL.claim, period_start: '2026-01-13', period_end: '2026-01-13' };
    // Act
    const errors = errorsOf(before);
    // Assess
    expectOnlyError(errors, '/period_end', 'date_order');
    expect(validateRecord(same).ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------
// Counts
// ---------------------------------------------------------------------------------------------------

describe('Count', () => {
  /** Where a Count sits: claim value (required) and the three optional event counts. */
  const places: Array<[RecordKind, string]> = [
    ['claim', '/value'],
    ['event', '/killed'],
    ['event', '/injured'],
    ['event', '/arrested'],
  ];

  it.each(places)('%s %s: {} → count_empty at the count', (kind, pointer) => {
    // Prepare
    const input = withValue(MINIMAL[kind], pointer, {});
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'count_empty');
  });

  it.each(places)('%s %s: any one of low, best, high is enough; 0 is a number, and equal values are fine', (kind, pointer) => {
    for (const count of [{ low: 0 }, { best: 0 }, { high: 0 }, { low: 3, best: 3, high: 3 }, { low: 1, high: 2 }, { best: 2, high: 9 }, { low: 0, best: Number.MAX_SAFE_INTEGER }]) {
      // Prepare
      const input = withValue(MINIMAL[kind], pointer, count);
      // Act
      const rec = accepted(input);
      // Assess
      expect(rec[pointer.slice(1)]).toEqual(count);
    }
  });

  it.each(places)('%s %s: low > best → count_order at low', (kind, pointer) => {
    // Prepare
    const input = withValue(MINIMAL[kind], pointer, { low: 10, best: 5 });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, `${pointer}/low`, 'count_order');
  });

  it.each(places)('%s %s: best > high → count_order at best', (kind, pointer) => {
    // Prepare
    const input = withValue(MINIMAL[kind], pointer, { low: 1, best: 50, high: 20 });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, `${pointer}/best`, 'count_order');
  });

  it.each(places)('%s %s: low > high without best → count_order at low', (kind, pointer) => {
    // Prepare
    const input = withValue(MINIMAL[kind], pointer, { low: 12000, high: 650 });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, `${pointer}/low`, 'count_order');
  });

  it('low > best > high reports both orders', () => {
    // Prepare
    const input = withValue(MINIMAL.claim, '/value', { low: 30, best: 20, high: 10 });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectError(errors, '/value/low', 'count_order');
    expectError(errors, '/value/best', 'count_order');
    for (const e of errors) expect(e.code).toBe('count_order');
  });

  it.each([['low'], ['best'], ['high']])('a negative %s → too_small', (part) => {
    // Prepare
    const input = withValue(MINIMAL.claim, '/value', { [part]: -1 });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, `/value/${part}`, 'too_small');
  });

  it.each([[1.5], [0.1], [2000.000001]])('a non-integer %d is refused at its path', (n) => {
    // Prepare
    const input = withValue(MINIMAL.event, '/killed', { best: n });
    // Act
    const errors = errorsOf(input);
    // Assess
    expect(errors.map((e) => e.path)).toEqual(['/killed/best']);
  });

  it('a number above 2^53−1 → too_big at its path, reported once', () => {
    // Prepare
    const input = withValue(MINIMAL.claim, '/value', { high: 2 ** 53 });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/value/high', 'too_big');
  });

  it.each([['/value/low', 'claim'], ['/killed/best', 'event']] as Array<[string, RecordKind]>)('a number sent as a string at %s → invalid_type', (pointer, kind) => {
    // Prepare
    const input = withValue(MINIMAL[kind], pointer, '5');
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'invalid_type');
  });

  it('a count that is not an object → invalid_type at the count', () => {
    // Prepare
    const input = withValue(MINIMAL.event, '/killed', 5);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/killed', 'invalid_type');
  });

  it('an unknown part of a count → unknown_field at its path', () => {
    // Prepare
    const input = withValue(MINIMAL.claim, '/value', { best: 5, mid: 4 });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/value/mid', 'unknown_field');
  });
});

// ---------------------------------------------------------------------------------------------------
// Other numbers
// ---------------------------------------------------------------------------------------------------

describe('other numbers', () => {
  it('person age: 0 and 120 accepted; -1 → too_small, 121 → too_big, 30.5 and "30" refused', () => {
    // Act
    const zero = validateRecord(withValue(MINIMAL.person, '/age', 0));
    const max = validateRecord(withValue(MINIMAL.person, '/age', 120));
    const neg = errorsOf(withValue(MINIMAL.person, '/age', -1));
    const old = errorsOf(withValue(MINIMAL.person, '/age', 121));
    const frac = errorsOf(withValue(MINIMAL.person, '/age', 30.5));
    const str = errorsOf(withValue(MINIMAL.person, '/age', '30'));
    // Assess
    expect(zero.ok).toBe(true);
    expect(max.ok).toBe(true);
    expectOnlyError(neg, '/age', 'too_small');
    expectOnlyError(old, '/age', 'too_big');
    expect(frac.map((e) => e.path)).toEqual(['/age']);
    expectOnlyError(str, '/age', 'invalid_type');
  });

  it('an age beyond 2^53−1 → one too_big at /age, naming the real bound (120)', () => {
    // Prepare
    const input = withValue(MINIMAL.person, '/age', 2 ** 53);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/age', 'too_big');
    expect(errors[0]!.message).toContain('120');
  });

  it('an expected_revision below −(2^53−1) → one too_small at /expected_revision, naming the real bound (1)', () => {
    // Prepare
    const input = withValue(MINIMAL.source, '/expected_revision', -(2 ** 53));
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/expected_revision', 'too_small');
    expect(errors[0]!.message).toMatch(/\b1$/);
  });

  it('expected_revision: an integer ≥ 1; 0 → too_small, 1.5 refused, "2" → invalid_type', () => {
    // Act
    const zero = errorsOf(withValue(MINIMAL.source, '/expected_revision', 0));
    const frac = errorsOf(withValue(MINIMAL.source, '/expected_revision', 1.5));
    const str = errorsOf(withValue(MINIMAL.source, '/expected_revision', '2'));
    // Assess
    expectOnlyError(zero, '/expected_revision', 'too_small');
    expect(frac.map((e) => e.path)).toEqual(['/expected_revision']);
    expectOnlyError(str, '/expected_revision', 'invalid_type');
  });
});

// ---------------------------------------------------------------------------------------------------
// Location and coordinates
// ---------------------------------------------------------------------------------------------------

describe('Location', () => {
  const places: Array<[RecordKind, string]> = [
    ['event', '/location'],
    ['claim', '/area'],
    ['person', '/location'],
  ];

  it.each(places)('%s %s: coordinates with geo_precision are accepted, at the extreme values too', (kind, pointer) => {
    for (const [latitude, longitude] of [[35.7, 51.4], [90, 180], [-90, -180], [0, 0]]) {
      // Prepare
      const input = withValue(MINIMAL[kind], pointer, { latitude, longitude, geo_precision: 'exact' });
      // Act
      const rec = accepted(input);
      // Assess
      expect(rec[pointer.slice(1)]).toEqual({ country: 'IR', latitude, longitude, geo_precision: 'exact' });
    }
  });

  it.each(places)('%s %s: only latitude → coordinates_pair at the location', (kind, pointer) => {
    // Prepare
    const input = withValue(MINIMAL[kind], pointer, { latitude: 35.7, geo_precision: 'city' });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'coordinates_pair');
  });

  it.each(places)('%s %s: only longitude → coordinates_pair at the location', (kind, pointer) => {
    // Prepare
    const input = withValue(MINIMAL[kind], pointer, { longitude: 51.4 });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'coordinates_pair');
  });

  it.each(places)('%s %s: both coordinates without geo_precision → geo_precision_required at the location', (kind, pointer) => {
    // Prepare
    const input = withValue(MINIMAL[kind], pointer, { latitude: 35.7, longitude: 51.4 });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'geo_precision_required');
  });

  it.each([
    ['latitude', 91, 'too_big'],
    ['latitude', 90.0001, 'too_big'],
    ['latitude', -91, 'too_small'],
    ['longitude', -181, 'too_small'],
    ['longitude', 180.5, 'too_big'],
  ] as Array<[string, number, string]>)('%s %d → %s at its path', (field, value, code) => {
    // Prepare
    const loc: Rec = { latitude: 10, longitude: 10, geo_precision: 'exact', [field]: value };
    const input = withValue(MINIMAL.event, '/location', loc);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, `/location/${field}`, code);
  });

  it('latitude 91 and longitude −181 together → too_big and too_small', () => {
    // Prepare
    const input = withValue(MINIMAL.event, '/location', { latitude: 91, longitude: -181, geo_precision: 'city' });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectError(errors, '/location/latitude', 'too_big');
    expectError(errors, '/location/longitude', 'too_small');
    expect(errors).toHaveLength(2);
  });

  it('a latitude sent as a string → invalid_type', () => {
    // Prepare
    const input = withValue(MINIMAL.event, '/location', { latitude: '35.7', longitude: 51.4, geo_precision: 'city' });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectError(errors, '/location/latitude', 'invalid_type');
  });

  it.each([['ir'], ['IRN'], ['I'], ['Iran'], ['']])('country %j → invalid_format (ISO 3166-1 alpha-2)', (country) => {
    // Prepare
    const input = withValue(MINIMAL.event, '/location', { country });
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/location/country', 'invalid_format');
  });

  it('another country is accepted: nothing assumes Iran beyond the default', () => {
    // Prepare
    const input = withValue(MINIMAL.event, '/location', { country: 'AF', admin1: 'Kabul' });
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec.location).toEqual({ country: 'AF', admin1: 'Kabul' });
  });

  it('an event location that is not an object → invalid_type', () => {
    // Prepare
    const input = withValue(MINIMAL.event, '/location', 'Tehran');
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/location', 'invalid_type');
  });
});

// ---------------------------------------------------------------------------------------------------
// Source fields: url, content_sha256, language
// ---------------------------------------------------------------------------------------------------

describe('source url, archived_url, content_sha256, language', () => {
  const urlFields = [['/url'], ['/archived_url']];

  it.each(urlFields)('%s accepts absolute http and https URLs', (pointer) => {
    for (const url of ['https://example.org', 'http://example.org/a/b?c=d#e', 'https://www.iranhr.net/en/articles/8000/', 'https://example.org:8443/x']) {
      // Prepare
      const input = withValue(MINIMAL.source, pointer, url);
      // Act
      const v = validateRecord(input);
      // Assess
      expect(v.ok, `${pointer} = ${url}: ${JSON.stringify(v)}`).toBe(true);
    }
  });

  it.each(
    urlFields.flatMap(([p]) =>
      ['ftp://example.org/file', 'file:///etc/passwd', 'javascript:alert(1)', 'mailto:someone@example.org', 'data:text/plain,hi', '/relative/path', 'example.org/page', '//example.org/x', 'https://', 'not a url', ''].map(
        (u) => [p!, u] as [string, string],
      ),
    ),
  )('%s = %j → invalid_format', (pointer, url) => {
    // Prepare
    const input = withValue(MINIMAL.source, pointer, url);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'invalid_format');
  });

  it.each([['a'.repeat(64)], ['0123456789abcdef'.repeat(4)], ['f'.repeat(64)]])('content_sha256 %s accepted', (hash) => {
    // Prepare
    const input = withValue(MINIMAL.source, '/content_sha256', hash);
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec.content_sha256).toBe(hash);
  });

  it.each([
    ['uppercase hex', 'A'.repeat(64)],
    ['mixed case', 'Ab'.repeat(32)],
    ['63 characters', 'a'.repeat(63)],
    ['65 characters', 'a'.repeat(65)],
    ['non-hex', 'g'.repeat(64)],
    ['a prefix', `sha256:${'a'.repeat(64)}`],
    ['empty', ''],
  ])('content_sha256 with %s → invalid_format', (_what, hash) => {
    // Prepare
    const input = withValue(MINIMAL.source, '/content_sha256', hash);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/content_sha256', 'invalid_format');
  });

  it.each([['en'], ['fa'], ['fr'], ['ckb'], ['en-GB'], ['fa-IR'], ['zh-Hant-TW'], ['sr-Latn']])('language %j accepted (BCP 47)', (language) => {
    // Prepare
    const input = withValue(MINIMAL.source, '/language', language);
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec.language).toBe(language);
  });

  it.each([['e'], ['en_GB'], ['en-'], ['-en'], ['en--GB'], ['en GB'], ['12'], ['']])('language %j → invalid_format', (language) => {
    // Prepare
    const input = withValue(MINIMAL.source, '/language', language);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/language', 'invalid_format');
  });
});

// ---------------------------------------------------------------------------------------------------
// Unknown and server-managed fields
// ---------------------------------------------------------------------------------------------------

describe('unknown fields', () => {
  it.each(kindCases)('%s: an unknown top-level field → unknown_field at /colour', (kind) => {
    // Prepare
    const input = withValue(MINIMAL[kind], '/colour', 'red');
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/colour', 'unknown_field');
  });

  it.each([
    ['event', '/location/colour'],
    ['event', '/actors/1/colour'],
    ['event', '/killed/colour'],
    ['event', '/restricted/colour'],
    ['claim', '/area/colour'],
    ['claim', '/value/colour'],
    ['person', '/location/colour'],
    ['source', '/restricted/colour'],
  ] as Array<[RecordKind, string]>)('%s: a nested unknown field → unknown_field at %s', (kind, pointer) => {
    // Prepare
    const input = withValue(FULL[kind], pointer, 'red');
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, pointer, 'unknown_field');
  });

  it('a field of another kind is unknown (a typo must not silently lose data)', () => {
    // Prepare
    const a = withValue(MINIMAL.source, '/description', 'x');
    const b = withValue(MINIMAL.event, '/titel', 'typo');
    // Act
    const ea = errorsOf(a);
    const eb = errorsOf(b);
    // Assess
    expectOnlyError(ea, '/description', 'unknown_field');
    expectOnlyError(eb, '/titel', 'unknown_field');
  });

  it('several unknown fields are each reported at their own path', () => {
    // Prepare
    const input = { ...MINIMAL.person, colour: 1, shape: 2, location: { size: 3 } };
    // Act
    const errors = errorsOf(input);
    // Assess
    expect(errors.map((e) => [e.path, e.code]).sort()).toEqual([
      ['/colour', 'unknown_field'],
      ['/location/size', 'unknown_field'],
      ['/shape', 'unknown_field'],
    ]);
  });

  it('an unknown field name is escaped as a JSON Pointer token (RFC 6901)', () => {
    // Prepare
    const input = { ...MINIMAL.source, 'a/b~c': 1 };
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/a~1b~0c', 'unknown_field');
  });
});

describe('server-managed fields', () => {
  it('the list is the one DATA.md gives', () => {
    expect([...SERVER_FIELDS].sort()).toEqual(['created_at', 'first_published', 'retracted', 'review_status', 'revision', 'submitted_by', 'updated_at']);
  });

  const values: Record<string, unknown> = {
    revision: 3,
    created_at: '2026-01-13T10:00:00Z',
    updated_at: '2026-01-13T10:00:00Z',
    review_status: 'approved',
    submitted_by: 'key-123',
    first_published: '2026-01-14',
    retracted: false,
  };
  const cases = RECORD_KINDS.flatMap((kind) => Object.keys(values).map((f) => [kind, f] as [RecordKind, string]));

  it.each(cases)('%s: %s → server_field at its path', (kind, field) => {
    // Prepare
    const input = withValue(MINIMAL[kind], `/${field}`, values[field]);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, `/${field}`, 'server_field');
  });

  it('all server fields at once are each reported', () => {
    // Prepare
    const input = { ...MINIMAL.event, ...values };
    // Act
    const errors = errorsOf(input);
    // Assess
    expect(errors.map((e) => e.path).sort()).toEqual(Object.keys(values).map((f) => `/${f}`).sort());
    for (const e of errors) expect(e.code).toBe('server_field');
  });
});

// ---------------------------------------------------------------------------------------------------
// Text: control characters, surrogates, NFC, forbidden keys, depth
// ---------------------------------------------------------------------------------------------------

describe('text', () => {
  const controls = [
    ...Array.from({ length: 0x20 }, (_, i) => i).filter((c) => c !== 0x09 && c !== 0x0a && c !== 0x0d),
    0x7f,
  ];

  it.each(controls.map((c) => [`U+${c.toString(16).toUpperCase().padStart(4, '0')}`, c]))('%s in a string → invalid_text', (_name, code) => {
    // Prepare
    const input = withValue(MINIMAL.event, '/description', `before${String.fromCharCode(code)}after`);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/description', 'invalid_text');
  });

  it('tab, LF and CR are allowed', () => {
    // Prepare
    const text = 'line one\r\nline\ttwo\nline three\r';
    const input = withValue(MINIMAL.event, '/description', text);
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec.description).toBe(text);
  });

  it.each([
    ['a lone high surrogate', 'a\uD800b'],
    ['a lone high surrogate at the end', 'abc\uDBFF'],
    ['a lone low surrogate', 'a\uDC00b'],
    ['a lone low surrogate at the start', '\uDFFFabc'],
    ['a reversed pair', 'a\uDC00\uD800b'],
  ])('%s → invalid_text', (_what, text) => {
    // Prepare
    const input = withValue(MINIMAL.source, '/title', text);
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/title', 'invalid_text');
  });

  it('a lone surrogate from JSON ("\\ud800") → invalid_text', () => {
    // Prepare
    const input = JSON.parse('{"id":"src-abc","kind":"source","title":"x\\ud800y","publisher":"p","publisher_type":"ngo"}');
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/title', 'invalid_text');
  });

  it('a proper surrogate pair (an emoji) is fine', () => {
    // Prepare
    const input = withValue(MINIMAL.source, '/title', 'Vigil 🕯️ in Tehran');
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec.title).toBe('Vigil 🕯️ in Tehran');
  });

  it.each([
    ['event', '/location/admin1'],
    ['event', '/actors/0/name'],
    ['claim', '/quote'],
    ['person', '/restricted/submitter_contact'],
    ['source', '/tags/1'],
  ] as Array<[RecordKind, string]>)('%s: bad text is found in nested strings too (%s)', (kind, pointer) => {
    // Prepare
    const a = withValue(FULL[kind], pointer, 'x\u0000y');
    const b = withValue(FULL[kind], pointer, 'x\uD83Dy');
    // Act
    const ea = errorsOf(a);
    const eb = errorsOf(b);
    // Assess
    expectOnlyError(ea, pointer, 'invalid_text');
    expectOnlyError(eb, pointer, 'invalid_text');
  });

  it('bad text in an id, an enum or an unknown field is refused as well', () => {
    // Prepare
    const input = { ...MINIMAL.source, id: 'src\u0000abc', publisher_type: 'ngo\u007f', colour: 'r\u001bd' };
    // Act
    const errors = errorsOf(input);
    // Assess
    expectError(errors, '/id', 'invalid_text');
    expectError(errors, '/publisher_type', 'invalid_text');
    expect(errors.some((e) => e.path === '/colour')).toBe(true);
  });

  it('a field name with a control character → refused at its path', () => {
    // Prepare
    const input = { ...MINIMAL.source, 'col\u0000our': 'red' };
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/col\u0000our', 'invalid_text');
  });

  it('NFC-normalises every string: a decomposed "é" comes back composed', () => {
    // Prepare
    const decomposed = 'Cafe\u0301 Re\u0301volution';
    const composed = 'Caf\u00e9 R\u00e9volution';
    const input = {
      ...FULL.event,
      description: decomposed,
      location: { ...(FULL.event.location as Rec), admin1: decomposed },
      actors: [{ name: decomposed, actor_type: 'civilians', role: 'target' }],
      tags: [decomposed],
      restricted: { notes: decomposed },
    };
    // Act
    const rec = accepted(input) as Rec & { location: Rec; actors: Rec[]; restricted: Rec };
    // Assess
    expect(decomposed).not.toBe(composed);
    expect(rec.description).toBe(composed);
    expect(rec.location.admin1).toBe(composed);
    expect(rec.actors[0]!.name).toBe(composed);
    expect(rec.tags).toEqual([composed]);
    expect(rec.restricted.notes).toBe(composed);
  });

  it('normalises before checking lengths: 500 decomposed "é" (1000 code units) make a valid title', () => {
    // Prepare
    const input = withValue(MINIMAL.source, '/title', 'e\u0301'.repeat(500));
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec.title).toBe('\u00e9'.repeat(500));
  });

  it('Persian text passes unchanged', () => {
    // Prepare
    const fa = 'کشته شدن معترضان در ملکشاهی';
    const input = withValue(MINIMAL.event, '/description_fa', fa);
    // Act
    const rec = accepted(input);
    // Assess
    expect(rec.description_fa).toBe(fa.normalize('NFC'));
  });
});

describe('forbidden keys and nesting depth', () => {
  it.each([
    ['__proto__ at the top level', '{"__proto__":{"polluted":true},"id":"src-abc","kind":"source","title":"t","publisher":"p","publisher_type":"ngo"}', '/__proto__'],
    ['constructor at the top level', '{"constructor":{"prototype":{"polluted":true}},"id":"src-abc","kind":"source","title":"t","publisher":"p","publisher_type":"ngo"}', '/constructor'],
    ['__proto__ in a location', '{"id":"evt-abc","kind":"event","event_type":"riot","date_start":"2026-01-08","location":{"__proto__":{"polluted":true}},"description":"d","source_ids":["src-abc"]}', '/location/__proto__'],
    ['constructor in restricted', '{"id":"per-abc","kind":"person","fate":"killed","source_ids":["src-abc"],"restricted":{"constructor":"x"}}', '/restricted/constructor'],
  ])('%s → forbidden_key, and nothing is polluted', (_what, json, pointer) => {
    // Prepare
    const input = JSON.parse(json);
    // Act
    const v = validateRecord(input);
    // Assess
    expect(v.ok).toBe(false);
    if (v.ok) return;
    assertErrorShape(v.errors);
    expectError(v.errors, pointer, 'forbidden_key');
    expect(({} as Rec).polluted).toBeUndefined();
    expect((Object.prototype as Rec).polluted).toBeUndefined();
  });

  /** `depth` nested objects: {a:{a:…{}}}. */
  const nest = (depth: number): unknown => {
    let v: unknown = {};
    for (let i = 1; i < depth; i++) v = { a: v };
    return v;
  };

  it(`nesting deeper than MAX_DEPTH (${MAX_DEPTH}) → too_deep, inside the deep field`, () => {
    // Prepare
    const input = { ...MINIMAL.event, colour: nest(MAX_DEPTH + 4) };
    // Act
    const errors = errorsOf(input);
    // Assess
    const deep = errors.filter((e) => e.code === 'too_deep');
    expect(deep).toHaveLength(1);
    expect(deep[0]!.path.startsWith('/colour/a')).toBe(true);
  });

  it('nesting well within MAX_DEPTH is not too_deep (only the unknown field is reported)', () => {
    // Prepare
    const input = { ...MINIMAL.event, colour: nest(MAX_DEPTH - 3) };
    // Act
    const errors = errorsOf(input);
    // Assess
    expectOnlyError(errors, '/colour', 'unknown_field');
  });

  it('deeply nested arrays in a known field → too_deep', () => {
    // Prepare
    let arr: unknown = [];
    for (let i = 0; i < MAX_DEPTH + 4; i++) arr = [arr];
    const input = { ...MINIMAL.source, tags: arr };
    // Act
    const errors = errorsOf(input);
    // Assess
    expect(errors.some((e) => e.code === 'too_deep' && e.path.startsWith('/tags/0'))).toBe(true);
  });

  it('10,000 levels of nesting give a clean refusal, never a stack overflow', () => {
    // Prepare
    const json = `{"id":"evt-deep","kind":"event","x":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`;
    const input = JSON.parse(json);
    // Act
    const errors = errorsOf(input);
    // Assess
    expect(errors.some((e) => e.code === 'too_deep')).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------
// Several problems at once; error shape
// ---------------------------------------------------------------------------------------------------

describe('one response lists several problems at once', () => {
  it('event: count_order + unknown_field + date_order together', () => {
    // Prepare
    const input = { ...MINIMAL.event, date_start: '2026-01-08', date_end: '2026-01-01', colour: 'red', killed: { low: 5, best: 2 } };
    // Act
    const errors = errorsOf(input);
    // Assess
    expectError(errors, '/killed/low', 'count_order');
    expectError(errors, '/colour', 'unknown_field');
    expectError(errors, '/date_end', 'date_order');
    expect(errors).toHaveLength(3);
  });

  it('claim: count_empty + date_order + server_field + invalid_value + required together', () => {
    // Prepare
    const input = { ...withoutValue(MINIMAL.claim, '/claimant'), value: {}, period_start: '2026-01-13', period_end: '2026-01-01', revision: 2, qualifier: 'roughly' };
    // Act
    const errors = errorsOf(input);
    // Assess
    expectError(errors, '/value', 'count_empty');
    expectError(errors, '/period_end', 'date_order');
    expectError(errors, '/revision', 'server_field');
    expectError(errors, '/qualifier', 'invalid_value');
    expectError(errors, '/claimant', 'required');
    expect(errors).toHaveLength(5);
  });

  it('text problems found before schema checks are listed alongside them', () => {
    // Prepare
    const input = { ...MINIMAL.person, name: 'a\u0000b', age: 500, colour: 1 };
    // Act
    const errors = errorsOf(input);
    // Assess
    expectError(errors, '/name', 'invalid_text');
    expectError(errors, '/age', 'too_big');
    expectError(errors, '/colour', 'unknown_field');
  });

  it('toPointer builds RFC 6901 pointers', () => {
    expect(toPointer([])).toBe('');
    expect(toPointer(['value', 'low'])).toBe('/value/low');
    expect(toPointer(['actors', 0, 'name'])).toBe('/actors/0/name');
    expect(toPointer(['a/b', 'c~d'])).toBe('/a~1b/c~0d');
  });
});

// ---------------------------------------------------------------------------------------------------
// listReferences
// ---------------------------------------------------------------------------------------------------

describe('listReferences', () => {
  it('lists each reference with its pointer and target kind', () => {
    // Prepare
    const claim = accepted(FULL.claim);
    const person = accepted(FULL.person);
    const source = accepted(FULL.source);
    // Act
    const c = listReferences(claim);
    const p = listReferences(person);
    const s = listReferences(source);
    // Assess
    expect(c).toEqual([
      { pointer: '/source_ids/0', target: 'source', id: 'src-test-1' },
      { pointer: '/event_id', target: 'event', id: 'evt-test-1' },
    ]);
    expect(p).toEqual([
      { pointer: '/source_ids/0', target: 'source', id: 'src-test-1' },
      { pointer: '/event_ids/0', target: 'event', id: 'evt-test-1' },
    ]);
    expect(s).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// API body schemas
// ---------------------------------------------------------------------------------------------------

describe('API body schemas', () => {
  it('SubmitBody: 1..1000 records, nothing else', () => {
    expect(SubmitBody.safeParse({ records: [{}] }).success).toBe(true);
    expect(SubmitBody.safeParse({ records: Array.from({ length: 1000 }, () => ({})) }).success).toBe(true);
    expect(SubmitBody.safeParse({ records: [] }).success).toBe(false);
    expect(SubmitBody.safeParse({ records: Array.from({ length: 1001 }, () => ({})) }).success).toBe(false);
    expect(SubmitBody.safeParse({ records: [{}], extra: 1 }).success).toBe(false);
    expect(SubmitBody.safeParse({}).success).toBe(false);
  });

  it('ReviewBody: decision approve|reject, optional note ≤ 1000', () => {
    expect(ReviewBody.safeParse({ decision: 'approve' }).success).toBe(true);
    expect(ReviewBody.safeParse({ decision: 'reject', note: 'n'.repeat(1000) }).success).toBe(true);
    expect(ReviewBody.safeParse({ decision: 'reject', note: 'n'.repeat(1001) }).success).toBe(false);
    expect(ReviewBody.safeParse({ decision: 'maybe' }).success).toBe(false);
    expect(ReviewBody.safeParse({ decision: 'approve', extra: true }).success).toBe(false);
  });

  it('RetractBody: reason 1..1000', () => {
    expect(RetractBody.safeParse({ reason: 'duplicate' }).success).toBe(true);
    expect(RetractBody.safeParse({ reason: 'r'.repeat(1000) }).success).toBe(true);
    expect(RetractBody.safeParse({ reason: '' }).success).toBe(false);
    expect(RetractBody.safeParse({ reason: 'r'.repeat(1001) }).success).toBe(false);
    expect(RetractBody.safeParse({}).success).toBe(false);
  });

  it('CreateKeyBody: role contributor|editor and a name', () => {
    expect(CreateKeyBody.safeParse({ role: 'contributor', name: 'alice' }).success).toBe(true);
    expect(CreateKeyBody.safeParse({ role: 'editor', name: 'bob' }).success).toBe(true);
    expect(CreateKeyBody.safeParse({ role: 'admin', name: 'eve' }).success).toBe(false);
    expect(CreateKeyBody.safeParse({ role: 'editor', name: '' }).success).toBe(false);
    expect(CreateKeyBody.safeParse({ role: 'editor' }).success).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------
// JSON Schema
// ---------------------------------------------------------------------------------------------------

describe('recordJsonSchema', () => {
  type Schema = Record<string, unknown> & { properties: Record<string, Schema & { enum?: string[]; items?: Schema & { enum?: string[] } }>; required?: string[] };

  const exampleLines = readFileSync(new URL('../../examples/records.ndjson', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Rec);

  function compile(kind: RecordKind) {
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    addFormats.default(ajv);
    return ajv.compile(recordJsonSchema(kind));
  }

  it.each(kindCases)('%s: draft 2020-12, object, additionalProperties false, kind fixed', (kind) => {
    // Act
    const s = recordJsonSchema(kind) as Schema;
    // Assess
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(s.type).toBe('object');
    expect(s.additionalProperties).toBe(false);
    expect(s.properties.kind).toMatchObject({ const: kind });
  });

  it.each(kindCases)('%s: lists exactly the required fields of DATA.md (fields with defaults are not required)', (kind) => {
    // Act
    const s = recordJsonSchema(kind) as Schema;
    // Assess
    const expected = ['/kind', ...REQUIRED[kind]].map((p) => p.slice(1));
    expect([...(s.required ?? [])].sort()).toEqual(expected.sort());
  });

  it.each(kindCases)('%s: does not list server fields', (kind) => {
    // Act
    const s = recordJsonSchema(kind) as Schema;
    // Assess
    for (const f of SERVER_FIELDS) expect(Object.keys(s.properties)).not.toContain(f);
  });

  it.each(kindCases)('%s: nested objects are closed too', (kind) => {
    // Act
    const s = recordJsonSchema(kind) as Schema;
    // Assess
    for (const name of ['restricted', 'location', 'area', 'value', 'killed']) {
      const p = s.properties[name];
      if (p) expect(p.additionalProperties, name).toBe(false);
    }
  });

  it('has the enums of DATA.md', () => {
    // Prepare
    const src = recordJsonSchema('source') as Schema;
    const evt = recordJsonSchema('event') as Schema;
    const clm = recordJsonSchema('claim') as Schema;
    const per = recordJsonSchema('person') as Schema;
    const sorted = (v: readonly string[] | undefined) => [...(v ?? [])].sort();
    // Assess
    expect(sorted(src.properties.publisher_type!.enum)).toEqual(sorted(ENUMS.publisher_type));
    expect(sorted(src.properties.medium!.enum)).toEqual(sorted(ENUMS.medium));
    expect(sorted(src.properties.reliability!.enum)).toEqual(sorted(ENUMS.reliability));
    expect(sorted(evt.properties.event_type!.enum)).toEqual(sorted(ENUMS.event_type));
    expect(sorted(evt.properties.date_precision!.enum)).toEqual(sorted(ENUMS.date_precision));
    expect(sorted(evt.properties.verification!.enum)).toEqual(sorted(ENUMS.verification));
    expect(sorted(evt.properties.location!.properties.geo_precision!.enum)).toEqual(sorted(ENUMS.geo_precision));
    expect(sorted(evt.properties.actors!.items!.properties.actor_type!.enum)).toEqual(sorted(ENUMS.actor_type));
    expect(sorted(evt.properties.actors!.items!.properties.role!.enum)).toEqual(sorted(ENUMS.actor_role));
    expect(sorted(clm.properties.metric!.enum)).toEqual(sorted(ENUMS.metric));
    expect(sorted(clm.properties.population!.enum)).toEqual(sorted(ENUMS.population));
    expect(sorted(clm.properties.qualifier!.enum)).toEqual(sorted(ENUMS.qualifier));
    expect(sorted(clm.properties.claimant_type!.enum)).toEqual(sorted(ENUMS.claimant_type));
    expect(sorted(per.properties.name_disclosure!.enum)).toEqual(sorted(ENUMS.name_disclosure));
    expect(sorted(per.properties.gender!.enum)).toEqual(sorted(ENUMS.gender));
    expect(sorted(per.properties.fate!.enum)).toEqual(sorted(ENUMS.fate));
    expect(sorted(per.properties.role!.enum)).toEqual(sorted(ENUMS.person_role));
    expect(sorted(per.properties.charges!.items!.enum)).toEqual(sorted(ENUMS.charges));
  });

  it.each(kindCases)('%s: ajv (2020) compiled from it accepts every example line of that kind', (kind) => {
    // Prepare
    const validate = compile(kind);
    const lines = exampleLines.filter((r) => r.kind === kind);
    // Act
    const failures = lines.filter((r) => !(validate(r) as boolean)).map((r) => ({ id: r.id, errors: validate.errors }));
    // Assess
    expect(lines.length).toBeGreaterThan(0);
    expect(failures).toEqual([]);
  });

  it.each(kindCases)('%s: ajv accepts the minimal and full fixtures and rejects an unknown field', (kind) => {
    // Prepare
    const validate = compile(kind);
    // Act
    const minimal = validate(clone(MINIMAL[kind]));
    const full = validate(clone(FULL[kind]));
    const unknown = validate({ ...MINIMAL[kind], colour: 'red' });
    // Assess
    expect(minimal).toBe(true);
    expect(full).toBe(true);
    expect(unknown).toBe(false);
    expect(validate.errors).toContainEqual(expect.objectContaining({ keyword: 'additionalProperties', params: { additionalProperty: 'colour' } }));
  });

  it.each(kindCases)('%s: ajv rejects a server field, a missing required field and a wrong enum', (kind) => {
    // Prepare
    const validate = compile(kind);
    const enumField = ENUM_FIELDS.find(([k, p]) => k === kind && p.split('/').length === 2)!;
    // Act
    const server = validate({ ...MINIMAL[kind], revision: 1 });
    const missing = validate(withoutValue(MINIMAL[kind], REQUIRED[kind].at(-1)!));
    const wrongEnum = validate(withValue(MINIMAL[kind], enumField[1], 'not_a_value'));
    // Assess
    expect(server).toBe(false);
    expect(missing).toBe(false);
    expect(wrongEnum).toBe(false);
  });
});

describe('null means absent on input', () => {
  it('accepts an event whose unknown count is null, and stores it as absent', () => {
    const v = validateRecord({ id: 'evt-null-count', kind: 'event', event_type: 'protest', date_start: '2026-01-08', location: { admin1: 'Tehran', latitude: null, longitude: null }, description: 'x', killed: null, source_ids: ['src-a'] });
    expect(v.ok).toBe(true);
    if (v.ok) {
      expect('killed' in v.record).toBe(false);
      expect('latitude' in (v.record as { location: object }).location).toBe(false);
    }
  });
  it('still reports a null required field as required', () => {
    const v = validateRecord({ id: 'clm-null', kind: 'claim', metric: null, value: { best: 1 }, qualifier: 'exact', claimant: 'x', claimant_type: 'ngo', period_start: '2026-01-01', source_ids: ['src-a'] });
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.errors).toEqual([{ path: '/metric', code: 'required', message: 'this field is required' }]);
  });
  it('still refuses a forbidden key whose value is null', () => {
    const v = validateRecord(JSON.parse('{"id":"src-proto","kind":"source","title":"t","publisher":"p","publisher_type":"ngo","__proto__":null}'));
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.errors.map((e) => e.code)).toEqual(['forbidden_key']);
  });
});

describe('null server fields', () => {
  it('are still refused as server_field (null means absent only for contract fields)', () => {
    const v = validateRecord({ id: 'src-null-server', kind: 'source', title: 't', publisher: 'p', publisher_type: 'ngo', revision: null, submitted_by: null });
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.errors.map((e) => [e.path, e.code])).toEqual([['/revision', 'server_field'], ['/submitted_by', 'server_field']]);
  });
});
