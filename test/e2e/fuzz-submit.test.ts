import { QueryCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { RECORD_KINDS, RECORD_SCHEMAS, SERVER_FIELDS, type RecordKind } from '../../schemas/records.ts';
import { reportFigure } from '../support/hardening-report.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

// Property-based fuzzing of POST /records through the real HTTP path (issue 8, item 6). Generated
// records (valid, valid with one field broken, random JSON, huge and deep values, duplicate keys,
// every Unicode class) go in batches; every answer must hold these invariants:
//   never a 5xx; never a stack trace; every rejection has a JSON Pointer and a code; a rejected record
//   leaves its raw items in the table byte-identical; an accepted one reads back equal (GET as editor).
// Seeded: a failure prints its seed and path; LEDGER_FUZZ_PATH=<path> replays that case.

const SEED = 20261202;
const BATCHES = Number(process.env.LEDGER_FUZZ_BATCHES ?? 34);
const PER_BATCH = 50;
const BODIES = Number(process.env.LEDGER_FUZZ_BODIES ?? 150);

type Obj = { [k: string]: unknown };
let stack: TestStack;
let inputs = 0;
let fiveHundreds = 0;

// ---- the contract, read from the zod schemas (so a new enum value or field is fuzzed without an edit)

type Def = { type: string; innerType?: z.ZodType; element?: z.ZodType; shape?: Record<string, z.ZodType> };
const defOf = (s: z.ZodType) => (s as unknown as { def: Def }).def;
function unwrap(s: z.ZodType): z.ZodType {
  let t = s;
  while (['optional', 'default', 'nullable'].includes(defOf(t).type)) t = defOf(t).innerType!;
  return t;
}
const shapeOf = (s: z.ZodType) => (s as unknown as { shape: Record<string, z.ZodType> }).shape;

/** Every enum in a kind's schema, as [path from the record (0 for an array element), values]. */
function enumsOf(s: z.ZodType, path: Array<string | number> = []): Array<[Array<string | number>, string[]]> {
  const t = unwrap(s);
  const d = defOf(t);
  if (d.type === 'enum') return [[path, [...(t as unknown as { options: string[] }).options]]];
  if (d.type === 'array') return enumsOf(d.element!, [...path, 0]);
  if (d.type === 'object') return Object.entries(shapeOf(t)).flatMap(([k, v]) => enumsOf(v, [...path, k]));
  return [];
}
const ENUMS = Object.fromEntries(RECORD_KINDS.map((k) => [k, enumsOf(RECORD_SCHEMAS[k])])) as Record<RecordKind, Array<[Array<string | number>, string[]]>>;
const REQUIRED = Object.fromEntries(RECORD_KINDS.map((k) => [k, Object.entries(shapeOf(RECORD_SCHEMAS[k])).filter(([, v]) => !['optional', 'default'].includes(defOf(v).type)).map(([f]) => f)])) as Record<RecordKind, string[]>;
const FIELDS = Object.fromEntries(RECORD_KINDS.map((k) => [k, Object.keys(shapeOf(RECORD_SCHEMAS[k]))])) as Record<RecordKind, string[]>;

/** Free-text fields of each kind (paths) and their maximum length, from the schemas. */
const TEXT: Record<RecordKind, Array<Array<string | number>>> = {
  source: [['title'], ['publisher'], ['tags', 0], ['restricted', 'notes']],
  event: [['description'], ['description_fa'], ['location', 'admin1'], ['location', 'place'], ['actors', 0, 'name'], ['restricted', 'witness']],
  claim: [['claimant'], ['quote'], ['area', 'admin2'], ['tags', 0]],
  person: [['name'], ['name_fa'], ['affiliation'], ['facility'], ['restricted', 'submitter_contact']],
};
function schemaAt(kind: RecordKind, path: Array<string | number>): z.ZodType {
  let s: z.ZodType = RECORD_SCHEMAS[kind];
  for (const p of path) {
    const t = unwrap(s);
    s = typeof p === 'number' ? defOf(t).element! : shapeOf(t)[p]!;
  }
  return unwrap(s);
}
const maxLength = (kind: RecordKind, path: Array<string | number>) => (schemaAt(kind, path) as unknown as { maxLength: number | null }).maxLength ?? 5000;

const pointer = (path: Array<string | number>) => path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');

function setAt(o: Obj, path: Array<string | number>, value: unknown): void {
  let cur = o as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) cur = cur[p] as Record<string | number, unknown>;
  cur[path.at(-1)!] = value;
}
function getAt(o: Obj, path: Array<string | number>): unknown {
  return path.reduce<unknown>((cur, p) => (cur as Record<string | number, unknown> | undefined)?.[p], o);
}

// ---- what is stored before the fuzzing starts: references and ids to break updates of

const POOL = { source: ['src-fz-pool-0', 'src-fz-pool-1', 'src-fz-pool-2', 'src-fz-pool-3', 'src-fz-pool-4', 'src-fz-pool-5'], event: ['evt-fz-pool-0', 'evt-fz-pool-1', 'evt-fz-pool-2', 'evt-fz-pool-3', 'evt-fz-pool-4', 'evt-fz-pool-5'], claim: ['clm-fz-pool-0', 'clm-fz-pool-1', 'clm-fz-pool-2', 'clm-fz-pool-3', 'clm-fz-pool-4', 'clm-fz-pool-5'], person: ['per-fz-pool-0', 'per-fz-pool-1', 'per-fz-pool-2', 'per-fz-pool-3', 'per-fz-pool-4', 'per-fz-pool-5'] } satisfies Record<RecordKind, string[]>;

/** A valid record of each kind holding every optional structure (location with coordinates, actors, charges, restricted, tags). */
function base(kind: RecordKind, id: string): Obj {
  const src = [POOL.source[0]];
  const loc = { admin1: 'Tehran', admin2: 'Tehran', place: 'Enghelab Sq.', latitude: 35.7, longitude: 51.39, geo_precision: 'city' };
  const common = { id, kind, tags: ['fuzz'], restricted: { notes: 'n', witness: 'w', submitter_contact: 'c' } };
  switch (kind) {
    case 'source':
      return { ...common, title: 'T', publisher: 'P', publisher_type: 'ngo', medium: 'article', published_on: '2026-01-10', language: 'fa', reliability: 'unknown', url: 'https://example.org/a' };
    case 'event':
      return { ...common, event_type: 'protest', date_start: '2026-01-08', date_end: '2026-01-09', date_precision: 'day', location: loc, actors: [{ name: 'A', actor_type: 'protesters', role: 'participant' }], description: 'D', description_fa: 'ت', killed: { low: 1, best: 2, high: 3 }, verification: 'reported', source_ids: src };
    case 'claim':
      return { ...common, metric: 'killed', population: 'all', value: { best: 10 }, qualifier: 'exact', quote: 'q', claimant: 'C', claimant_type: 'ngo', period_start: '2026-01-01', period_end: '2026-01-13', area: { ...loc, geo_precision: 'province' }, event_id: POOL.event[0], source_ids: src };
    case 'person':
      return { ...common, name: 'N', name_fa: 'ن', name_disclosure: 'withheld', gender: 'unknown', age: 30, fate: 'detained', fate_date: '2026-01-09', role: 'other', affiliation: 'a', facility: 'f', charges: ['other'], location: loc, event_ids: [POOL.event[0]], source_ids: src };
  }
}

// ---- Unicode classes

/** Allowed in text and kept as data: bidi controls, line/paragraph separators, noncharacters, astral, combining (NFC). */
const ALLOWED_SPECIAL = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c', '\u2028', '\u2029', '\ufffe', '\uffff', '\ufdd0', '\ufdef', '\u{1fffe}', '\u{10ffff}', '\u{1f600}', '\t', '\n', '\r', 'e\u0301', 'ی', 'ک', '\u200c', '\ufeff', '"', '\\', '<', '&', '/'];
/** Never allowed in text: C0 (but tab, LF, CR), DEL, C1, unpaired surrogates. */
const FORBIDDEN = ['\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u001b', '\u001f', '\u007f', '\u0080', '\u0085', '\u008d', '\u009b', '\u009f', '\ud800', '\udbff', '\udc00', '\udfff'];

const textChar = fc.oneof({ weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) }, { weight: 3, arbitrary: fc.constantFrom(...ALLOWED_SPECIAL) }, { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) });
const validText = fc.array(textChar, { minLength: 1, maxLength: 20 }).map((cs) => cs.join('')).filter((s) => s.normalize('NFC').length >= 1 && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(s));

// ---- the cases

type Case =
  | { t: 'valid'; kind: RecordKind; record: Obj }
  | { t: 'broken'; kind: RecordKind; record: Obj; how: string; deep?: number; pool: boolean; /** The JSON Pointer the rejection must name, where one field is known to be the broken one. */ at?: string }
  | { t: 'dupkey'; kind: RecordKind; record: Obj; field: string; other: unknown; pool: boolean }
  | { t: 'random'; value: unknown };

const kindArb = fc.constantFrom(...RECORD_KINDS);

/** A valid record: free text from every Unicode class allowed, every enum value reachable. */
const validArb = kindArb.chain((kind) =>
  fc.record({
    kind: fc.constant(kind),
    texts: fc.array(validText, { minLength: TEXT[kind].length, maxLength: TEXT[kind].length }),
    enums: fc.tuple(...ENUMS[kind].map(([, values]) => fc.constantFrom(...values))),
    count: fc.tuple(fc.nat(1000), fc.nat(1000), fc.nat(1000)),
  }),
);

type ValidSpec = { kind: RecordKind; texts: string[]; enums: string[]; count: [number, number, number] };

function buildValid(v: ValidSpec, id: string): Obj {
  const r = base(v.kind, id);
  TEXT[v.kind].forEach((p, i) => setAt(r, p, v.texts[i]));
  ENUMS[v.kind].forEach(([p], i) => setAt(r, p, v.enums[i]));
  const [a, b, c] = [...v.count].sort((x, y) => x - y);
  if (v.kind === 'event') r.killed = { low: a, best: b, high: c };
  if (v.kind === 'claim') r.value = { low: a, high: c };
  return r;
}

const MUTATIONS = ['missing_required', 'wrong_type', 'enum_out', 'bad_char', 'too_long', 'huge', 'deep', 'unknown_field', 'server_field', 'bad_id', 'bad_date', 'count_order', 'coords_half', 'unknown_reference', 'expected_revision'] as const;
const WRONG_VALUES: unknown[] = [null, 0, -1, 1.5, true, false, [], {}, 'x', [1], { a: 1 }, 1e308, -0];
const jsonType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

const brokenArb = fc.record({ v: validArb, how: fc.constantFrom(...MUTATIONS), pick: fc.nat(1000), pick2: fc.nat(1000), size: fc.integer({ min: 20_000, max: 120_000 }), depth: fc.integer({ min: 100, max: 20_000 }), pool: fc.boolean() });

type BrokenSpec = { v: ValidSpec; how: (typeof MUTATIONS)[number]; pick: number; pick2: number; size: number; depth: number; pool: boolean };

function buildBroken(b: BrokenSpec, id: string): Case {
  const { kind } = b.v;
  const r = buildValid(b.v, id);
  const textPath = TEXT[kind][b.pick % TEXT[kind].length]!;
  const c: Case = { t: 'broken', kind, record: r, how: b.how, pool: b.pool };
  switch (b.how) {
    case 'missing_required':
      delete r[REQUIRED[kind][b.pick % REQUIRED[kind].length]!];
      break;
    case 'wrong_type': {
      const field = FIELDS[kind].filter((f) => f !== 'expected_revision')[b.pick % (FIELDS[kind].length - 1)]!;
      // null stands for absent (schemas/validate-record.ts, DATA.md): wrong only where the field is required.
      const others = WRONG_VALUES.filter((w) => jsonType(w) !== jsonType(r[field]) && !(field === 'tags' && Array.isArray(w)) && !(w === null && !REQUIRED[kind].includes(field)));
      r[field] = others[b.pick2 % others.length];
      c.how = `wrong_type ${field}=${JSON.stringify(r[field])}`;
      break;
    }
    case 'enum_out': {
      const [p, values] = ENUMS[kind][b.pick % ENUMS[kind].length]!;
      const v = values[b.pick2 % values.length]!;
      const outs = [v.toUpperCase(), ` ${v}`, `${v} `, '', `${v}\u200b`, `\u202e${v}`, v.slice(0, -1), `${v}s`, 'unknown_value'].filter((o) => !values.includes(o));
      setAt(r, p, outs[b.pick2 % outs.length]);
      c.at = pointer(p);
      break;
    }
    case 'bad_char': {
      const s = String(getAt(r, textPath));
      const ch = FORBIDDEN[b.pick2 % FORBIDDEN.length]!;
      const at = b.pick2 % (s.length + 1);
      setAt(r, textPath, s.slice(0, at) + ch + s.slice(at));
      c.at = pointer(textPath);
      break;
    }
    case 'too_long':
      setAt(r, textPath, 'a'.repeat(maxLength(kind, textPath) + 1));
      c.at = pointer(textPath);
      break;
    case 'huge':
      setAt(r, textPath, 'x'.repeat(b.size));
      if (maxLength(kind, textPath) >= b.size) setAt(r, textPath, 'x'.repeat(maxLength(kind, textPath) + 1));
      c.at = pointer(textPath);
      break;
    case 'deep':
      setAt(r, textPath, '\u0000DEEP');
      c.deep = b.depth;
      c.at = pointer(textPath);
      break;
    case 'unknown_field': {
      const field = ['colour', 'Title', 'title ', 'source_id', 'constructor', '\u202etitle', 'a/b~c', ''][b.pick % 8]!;
      r[field] = 'x';
      c.at = pointer([field]);
      break;
    }
    case 'server_field': {
      const field = SERVER_FIELDS[b.pick % SERVER_FIELDS.length]!;
      r[field] = field === 'revision' ? 1 : 'x';
      c.at = pointer([field]);
      break;
    }
    case 'bad_id':
      r.id = ['', 'ab', 'A-upper', '-lead', 'has space', 'x'.repeat(129), 'é-accent', 'src/slash', 'src\u202eid', 7][b.pick % 10];
      break;
    case 'bad_date': {
      const field = { source: 'published_on', event: 'date_start', claim: 'period_start', person: 'fate_date' }[kind];
      r[field] = ['2026-02-30', '2026-1-1', '20260101', '2026-13-01', '2026-01-01T00:00:00Z', '０２０26-01-01'][b.pick % 6];
      c.at = pointer([field]);
      break;
    }
    case 'count_order':
      if (kind === 'event') r.killed = { low: 10, best: 5 };
      else if (kind === 'claim') r.value = { best: 10, high: 3 };
      else if (kind === 'person') r.age = 121;
      else r.content_sha256 = 'ABC';
      break;
    case 'coords_half': {
      const loc = (kind === 'claim' ? r.area : kind === 'source' ? undefined : r.location) as Obj | undefined;
      if (loc) delete loc.longitude;
      else r.url = 'ftp://example.org/x';
      break;
    }
    case 'unknown_reference':
      r.source_ids = [POOL.source[0], `src-fz-missing-${b.pick}`];
      break;
    case 'expected_revision':
      r.expected_revision = 1000 + b.pick;
      c.pool = true; // an update of a stored record that expects a revision it does not have
      break;
  }
  return c;
}

const dupArb = fc.record({ v: validArb, pick: fc.nat(1000), pool: fc.boolean() });

/** Random JSON where a record goes, or an object of record fields with random values. */
const randomArb = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(fc.constantFrom(...new Set(Object.values(FIELDS).flat()), 'kind', 'id'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 12 }),
);

const caseArb: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 4, arbitrary: validArb.map((v) => ({ t: 'valid-spec' as const, v })) },
  { weight: 6, arbitrary: brokenArb.map((b) => ({ t: 'broken-spec' as const, b })) },
  { weight: 1, arbitrary: dupArb.map((d) => ({ t: 'dup-spec' as const, d })) },
  { weight: 2, arbitrary: randomArb.map((value) => ({ t: 'random' as const, value })) },
);

/** Gives each case its id: fresh ones for valid records, stored ones (one use per batch) for some broken. */
type Spec = { t: 'valid-spec'; v: ValidSpec } | { t: 'broken-spec'; b: BrokenSpec } | { t: 'dup-spec'; d: { v: ValidSpec; pick: number; pool: boolean } } | { t: 'random'; value: unknown };

function assign(specs: Spec[], batch: number): Case[] {
  // The first of each pool is what valid records cite: a broken update of it in the same request would
  // (rightly) make them fail with unknown_reference ("rejected in this request").
  const free: Record<RecordKind, string[]> = Object.fromEntries(RECORD_KINDS.map((k) => [k, POOL[k].slice(1)])) as Record<RecordKind, string[]>;
  return specs.map((s, i) => {
    const fresh = `fz-${batch}-${i}-${Math.random().toString(36).slice(2, 8)}`;
    if (s.t === 'valid-spec') return { t: 'valid', kind: s.v.kind, record: buildValid(s.v, fresh) };
    if (s.t === 'broken-spec') {
      const wantsPool = s.b.pool || s.b.how === 'expected_revision';
      const id = wantsPool ? free[s.b.v.kind as RecordKind].pop() : undefined;
      const c = buildBroken({ ...s.b, how: s.b.how === 'expected_revision' && !id ? 'unknown_field' : s.b.how }, id ?? fresh);
      if (c.t === 'broken') c.pool = id !== undefined;
      return c;
    }
    if (s.t === 'dup-spec') {
      const kind = s.d.v.kind as RecordKind;
      const id = s.d.pool ? free[kind].pop() : undefined;
      const record = buildValid(s.d.v, id ?? fresh);
      const field = ENUMS[kind][s.d.pick % ENUMS[kind].length]![0][0] as string;
      const dupe = kind === 'person' ? ['name_disclosure', 'public_record'] : [field, record[field]];
      return { t: 'dupkey', kind, record, field: dupe[0] as string, other: dupe[1], pool: id !== undefined };
    }
    return { t: 'random', value: s.value };
  });
}

/** The JSON text of a case: deep values and duplicate keys are written as text (JSON.stringify cannot). */
function caseText(c: Case): string {
  if (c.t === 'random') return JSON.stringify(c.value) ?? 'null';
  const text = JSON.stringify(c.record);
  if (c.t === 'broken' && c.deep) return text.replace('"\\u0000DEEP"', '['.repeat(c.deep) + ']'.repeat(c.deep));
  if (c.t === 'dupkey') {
    // withheld first and public last (as in the issue): last-wins parsers would publish the name.
    const first = c.field === 'name_disclosure' ? 'withheld' : c.record[c.field];
    const inner = JSON.stringify({ ...c.record, [c.field]: undefined }).slice(1, -1);
    return `{${JSON.stringify(c.field)}:${JSON.stringify(first)},${inner},${JSON.stringify(c.field)}:${JSON.stringify(c.other)}}`;
  }
  return text;
}

// ---- the invariants

const STACK_TRACE = /\n\s+at |\bat [\w.<>]+ \(|node:internal|\.[cm]?[jt]s:\d+:\d+|\/work\/|file:\/\//;

function checkAnswerShape(res: { status: number; text: string; body: any; headers: Headers }, label: string): void {
  if (res.status >= 500) fiveHundreds++;
  expect(res.status, `${label}: ${res.text.slice(0, 500)}`).toBeLessThan(500);
  const messages: string[] = [];
  if (res.body && typeof res.body === 'object') {
    if (typeof res.body.detail === 'string') messages.push(res.body.detail);
    for (const e of res.body.errors ?? []) messages.push(String(e.message));
    for (const r of res.body.results ?? []) for (const e of r.errors ?? []) messages.push(String(e.message));
  }
  for (const m of messages) expect(m, `${label}: a stack trace in ${m}`).not.toMatch(STACK_TRACE);
  if (res.status >= 400) {
    expect(res.headers.get('content-type'), label).toContain('application/problem+json');
    expect(typeof res.body?.code, `${label}: ${res.text.slice(0, 300)}`).toBe('string');
    for (const e of res.body.errors ?? []) {
      expect(typeof e.path, `${label}: ${JSON.stringify(e)}`).toBe('string');
      expect(e.path === '' || e.path.startsWith('/'), label).toBe(true);
      expect(typeof e.code, label).toBe('string');
    }
  }
}

/** The raw items of an id, as DynamoDB holds them (attribute values, not unmarshalled), in key order. */
async function rawItems(id: string): Promise<string> {
  const out: unknown[] = [];
  let start: Record<string, any> | undefined;
  do {
    const page = await stack.ctx.dynamodb.send(new QueryCommand({ TableName: stack.tableName!, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: `REC#${id}` } }, ConsistentRead: true, ExclusiveStartKey: start }));
    out.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return JSON.stringify(out);
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}

const nfc = (v: unknown): unknown => (typeof v === 'string' ? v.normalize('NFC') : Array.isArray(v) ? v.map(nfc) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, nfc(x)])) : v);

async function runBatch(cases: Case[], batch: number): Promise<void> {
  const idOf = (c: Case) => (c.t === 'random' ? undefined : typeof c.record.id === 'string' ? c.record.id : undefined);
  const watched = cases.flatMap((c, i) => (c.t === 'broken' || c.t === 'dupkey') && idOf(c) ? [[i, idOf(c)!] as const] : []);
  const before = await mapLimit(watched, 8, ([, id]) => rawItems(id));
  const body = `{"records":[${cases.map(caseText).join(',')}]}`;
  const res = await call(stack, 'POST', '/records', { key: stack.editorKey, body, contentType: 'application/json' });
  inputs += cases.length;
  const label = `batch ${batch}`;
  checkAnswerShape(res, label);

  if (res.status === 200) {
    expect(res.body.results).toHaveLength(cases.length);
    const accepted: Array<[Case & { record: Obj }, string]> = [];
    res.body.results.forEach((r: any, i: number) => {
      const c = cases[i]!;
      const what = `${label} #${i} ${c.t}${c.t === 'broken' ? ` ${c.how}` : ''}: ${JSON.stringify(r).slice(0, 400)}`;
      expect(r.index, what).toBe(i);
      if (r.status === 'rejected') {
        expect(r.errors?.length, what).toBeGreaterThan(0);
        for (const e of r.errors) {
          expect(typeof e.path, what).toBe('string');
          expect(e.path === '' || e.path.startsWith('/'), what).toBe(true);
          expect(typeof e.code === 'string' && e.code.length > 0, what).toBe(true);
        }
      } else {
        expect(['created', 'updated', 'unchanged'], what).toContain(r.status);
        if (c.t !== 'random') accepted.push([c, r.kind]);
      }
      if (c.t === 'valid') expect(r.status, what).toBe('created');
      if (c.t === 'broken') expect(r.status, what).toBe('rejected');
      if (c.t === 'broken' && c.at !== undefined) expect(r.errors.map((e: any) => e.path), what).toContain(c.at);
      if (c.t === 'dupkey') {
        expect(r.status, what).toBe('rejected');
        expect(r.errors.map((e: any) => `${e.path} ${e.code}`), what).toContain(`/${c.field} duplicate_key`);
      }
    });
    await mapLimit(accepted, 6, async ([c, kind]) => {
      const got = await call(stack, 'GET', `/records/${kind}/${c.record.id}`, { key: stack.editorKey });
      expect(got.status, `${label} read back ${c.record.id}`).toBe(200);
      expect(got.body, `${label} read back ${c.record.id}`).toMatchObject(nfc(c.record) as Obj);
    });
  }
  const after = await mapLimit(watched, 8, ([, id]) => rawItems(id));
  watched.forEach(([i, id], w) => {
    const r = res.status === 200 ? res.body.results[i] : { status: 'rejected' };
    if (r.status === 'rejected') expect(after[w], `${label} #${i}: ${id} changed though rejected`).toBe(before[w]);
  });
}

beforeAll(async () => {
  stack = await startTestStack();
  const pool = RECORD_KINDS.flatMap((k) => POOL[k].map((id) => base(k, id)));
  const res = await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: pool } });
  expect(res.body.accepted, res.text).toBe(pool.length);
});
afterAll(async () => {
  reportFigure({ section: 'inputs', figure: 'fuzzed POST /records inputs (records in batches, and whole bodies)', value: inputs, source: 'test/e2e/fuzz-submit.test.ts' });
  reportFigure({ section: 'answers', figure: '5xx answers to fuzzed inputs', value: fiveHundreds, source: 'test/e2e/fuzz-submit.test.ts' });
  console.log(`fuzz-submit: ${inputs} inputs, ${fiveHundreds} 5xx answers`);
  await stack?.close();
});

describe('POST /records under fuzzing (fast-check, seeded)', () => {
  it('every enum value is accepted, and every boundary just outside it is rejected at its pointer', async () => {
    const cases: Case[] = [];
    for (const kind of RECORD_KINDS) {
      for (const [path, values] of ENUMS[kind]) {
        for (const v of values) {
          const r = base(kind, `fz-enum-${kind}-${path.join('.')}-${v}`.toLowerCase().replace(/[^a-z0-9._:-]/g, '-').slice(0, 120));
          setAt(r, path, v);
          cases.push({ t: 'valid', kind, record: r });
        }
        for (const [j, out] of [values[0]!.toUpperCase(), ` ${values[0]}`, '', 'not_a_value', values.at(-1)! + 'x', `\u202e${values[0]}`].entries()) {
          const r = base(kind, `fz-enum-out-${kind}-${path.join('.')}-${j}`.replace(/[^a-z0-9._:-]/g, '-'));
          setAt(r, path, out);
          cases.push({ t: 'broken', kind, record: r, how: `enum ${path.join('/')}=${JSON.stringify(out)}`, pool: false, at: pointer(path) });
        }
      }
    }
    const valid = cases.filter((c) => c.t === 'valid');
    for (let i = 0; i < valid.length; i += PER_BATCH) await runBatch(valid.slice(i, i + PER_BATCH), -1);
    const broken = cases.filter((c) => c.t === 'broken');
    for (let i = 0; i < broken.length; i += PER_BATCH) await runBatch(broken.slice(i, i + PER_BATCH), -2);
  });

  it(`holds its invariants over ${BATCHES} batches of ${PER_BATCH} generated records`, async () => {
    let batch = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(caseArb, { minLength: PER_BATCH, maxLength: PER_BATCH }), async (specs) => {
        await runBatch(assign(specs, batch), batch);
        batch++;
      }),
      { numRuns: BATCHES, seed: SEED, endOnFailure: true, ...(process.env.LEDGER_FUZZ_PATH ? { path: process.env.LEDGER_FUZZ_PATH } : {}) },
    );
  });

  it(`holds its invariants over ${BODIES} generated whole bodies (JSON and NDJSON)`, async () => {
    const record = (i: number) => JSON.stringify(base('source', `fz-body-${i}-${Math.random().toString(36).slice(2, 8)}`));
    const bodyArb = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ ct: 'application/json', body: s as string | Uint8Array })),
      fc.uint8Array({ maxLength: 200 }).map((b) => ({ ct: 'application/x-ndjson', body: b as string | Uint8Array })),
      fc.jsonValue({ maxDepth: 5 }).map((v) => ({ ct: 'application/json', body: JSON.stringify({ records: v }) })),
      fc.array(fc.oneof(fc.constant('R'), fc.constant(''), fc.json({ maxDepth: 2 }), fc.string({ unit: 'binary', maxLength: 30 }), fc.constantFrom('\u2028', '\u0085', '\ufeff', '{"a":1,"a":2}', '[', '{')), { maxLength: 20 }).map((lines) => ({ ct: 'application/x-ndjson', body: lines.map((l, i) => (l === 'R' ? record(i) : l)).join('\n') })),
      fc.integer({ min: 1_000, max: 200_000 }).map((d) => ({ ct: 'application/json', body: `{"records":${'['.repeat(d)}${']'.repeat(d)}}` })),
      fc.integer({ min: 1_000, max: 200_000 }).map((d) => ({ ct: 'application/x-ndjson', body: `${'{"a":'.repeat(d)}1${'}'.repeat(d)}` })),
      fc.constantFrom(
        { ct: 'application/json', body: '{"records":[],"records":[{}]}' },
        { ct: 'application/json', body: '\ufeff{"records":[{}]}' },
        { ct: 'application/json', body: new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]) },
        { ct: 'application/json', body: new Uint8Array([0xed, 0xa0, 0x80]) },
        { ct: 'text/plain', body: '{"records":[{}]}' },
        { ct: 'application/json; charset=latin1', body: '{"records":[{}]}' },
        { ct: 'application/json', body: '' },
      ),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(bodyArb, async ({ ct, body }) => {
        const res = await call(stack, 'POST', '/records', { key: stack.editorKey, body, contentType: ct });
        inputs++;
        checkAnswerShape(res, `body ${n++} (${ct}): ${String(typeof body === 'string' ? body : Buffer.from(body).toString('hex')).slice(0, 120)}`);
        if (res.status === 200) for (const r of res.body.results) if (r.status === 'rejected') for (const e of r.errors) expect(typeof e.code).toBe('string');
      }),
      { numRuns: BODIES, seed: SEED + 1, endOnFailure: true },
    );
  });
});
