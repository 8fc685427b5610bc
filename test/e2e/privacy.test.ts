// What never leaves the store (DATA.md "What is published, and what never is"): canary strings are
// planted in every restricted field of every kind, in withheld names, in a living person's precise
// location, and in revisions that are pending, rejected or retracted; after two releases EVERY object
// in the public bucket is fetched over plain HTTP, decompressed or decoded with DuckDB, and searched.
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../pipeline/canonical.ts';
import {
  claim,
  event,
  fetchObject,
  listKeys,
  newKey,
  person,
  publishOk,
  removeDir,
  retract,
  review,
  source,
  sqlString,
  submitOk,
  withDuckDb,
  type Json,
  type Rec,
} from '../support/release.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
let contributor: { key: string; id: string };
let editorKeyId: string;
const canaries = new Map<string, string>();
/** A fresh canary, remembered with where it was planted. */
const canary = (where: string): string => {
  const c = `CANARY-${randomBytes(6).toString('hex')}`;
  canaries.set(c, where);
  return c;
};
/** Every restricted field, each with its own canary. */
const restricted = (id: string): Rec => ({ restricted: { submitter_contact: canary(`${id}.restricted.submitter_contact`), witness: canary(`${id}.restricted.witness`), notes: canary(`${id}.restricted.notes`) } });
// Unique coordinates of living persons: their decimal forms must appear nowhere.
const LIVING_LAT = 35.6912347;
const LIVING_LON = 51.4213859;
const LIVING2_LAT = 29.6103271;
const LIVING2_LON = 52.5311943;
const DEAD_LOC = { admin1: 'Tehran', admin2: 'Tehran', place: 'Sattarkhan Street', latitude: 35.7014, longitude: 51.3512, geo_precision: 'exact' };

/** Every object in the bucket as the public reads it, as text: raw bytes, gunzipped, and DuckDB-decoded Parquet. */
async function publicText(): Promise<Array<{ key: string; text: string }>> {
  const keys = await listKeys(stack.ctx.objects, '');
  const dir = await mkdtemp(join(tmpdir(), 'ledger-privacy-'));
  const out: Array<{ key: string; text: string }> = [];
  try {
    await withDuckDb(async (q) => {
      for (const [i, key] of keys.entries()) {
        const bytes = await fetchObject(stack.publicBaseUrl, key);
        out.push({ key: `${key} (raw bytes)`, text: bytes.toString('latin1') + '\n' + bytes.toString('utf8') });
        if (key.endsWith('.gz')) out.push({ key: `${key} (gunzipped)`, text: gunzipSync(bytes).toString('utf8') });
        if (key.endsWith('.parquet')) {
          const file = join(dir, `${i}.parquet`);
          await writeFile(file, bytes);
          const rows = await q(`SELECT * FROM read_parquet(${sqlString(file)})`);
          out.push({ key: `${key} (parquet rows)`, text: rows.map((r) => JSON.stringify(r)).join('\n') });
        }
      }
    });
  } finally {
    await removeDir(dir);
  }
  expect(keys.some((k) => k.endsWith('.parquet'))).toBe(true);
  return out;
}

beforeAll(async () => {
  stack = await startTestStack();
  contributor = await newKey(stack, 'contributor');
  editorKeyId = (await stack.ctx.keys.getKeyByHash(sha256Hex(stack.editorKey)))!.key_id;

  await submitOk(stack, stack.editorKey, [
    source('src-p1', restricted('src-p1')),
    source('src-p2'),
    event('evt-p1', ['src-p1'], {
      ...restricted('evt-p1'),
      event_type: 'arrest',
      actors: [{ name: 'Students', actor_type: 'protesters', role: 'target' }],
      location: { admin1: 'Tehran', admin2: 'Tehran', place: 'University of Tehran', latitude: 35.7036, longitude: 51.3958, geo_precision: 'exact' },
    }),
    claim('clm-p1', ['src-p1'], { ...restricted('clm-p1'), event_id: 'evt-p1', area: { admin1: 'Tehran', admin2: 'Tehran' } }),
    // Withheld, explicitly: killed, so the location is kept, but the names never are.
    person('per-withheld', ['src-p1'], { ...restricted('per-withheld'), name: canary('per-withheld.name'), name_fa: `نام ${canary('per-withheld.name_fa')}`, name_disclosure: 'withheld', fate: 'killed', location: DEAD_LOC, event_ids: ['evt-p1'] }),
    // Withheld by default, and alive (detained): names null, location coarsened to the province.
    person('per-living', ['src-p1'], {
      ...restricted('per-living'),
      name: canary('per-living.name'),
      name_fa: canary('per-living.name_fa'),
      fate: 'detained',
      facility: 'Evin Prison',
      location: { country: 'IR', admin1: 'Tehran', admin2: canary('per-living.location.admin2'), place: canary('per-living.location.place'), latitude: LIVING_LAT, longitude: LIVING_LON, geo_precision: 'exact' },
    }),
    // Alive (disappeared), precision already coarser than province: stays 'country'.
    person('per-disappeared', ['src-p2'], {
      name: canary('per-disappeared.name'),
      fate: 'disappeared',
      location: { admin1: 'Fars', admin2: canary('per-disappeared.location.admin2'), place: canary('per-disappeared.location.place'), latitude: LIVING2_LAT, longitude: LIVING2_LON, geo_precision: 'country' },
    }),
    // Named in a public source: the name is published, and so is the exact place of a killed person.
    person('per-public', ['src-p2'], { name: 'Public Name Example', name_fa: 'نام عمومی', name_disclosure: 'public_record', fate: 'executed', location: { admin1: 'Alborz', admin2: 'Karaj', place: 'Ghezel Hesar Prison', latitude: 35.83, longitude: 50.99, geo_precision: 'exact' } }),
    person('per-consent', ['src-p2'], { name: 'Consenting Name', name_disclosure: 'consent', fate: 'released' }),
    // Approved, then retracted before any release: none of it is ever published.
    source('src-retracted', { title: canary('src-retracted.title (retracted before release)') }),
  ]);
  await retract(stack, 'source', 'src-retracted', 'published by mistake');

  // A contributor's records: approved (restricted fields still dropped), pending, rejected, and a pending
  // revision of an approved record (the approved revision stays what is published).
  await submitOk(stack, contributor.key, [
    person('per-contrib', ['src-p2'], { ...restricted('per-contrib'), name: canary('per-contrib.name'), fate: 'injured', location: { admin1: 'Kurdistan', place: canary('per-contrib.location.place') } }),
    source('src-pending', { title: canary('src-pending.title (never approved)'), ...restricted('src-pending') }),
    source('src-rejected', { title: canary('src-rejected.title (rejected)') }),
  ]);
  await review(stack, 'person', 'per-contrib', 'approve');
  await review(stack, 'source', 'src-rejected', 'reject');
  await submitOk(stack, contributor.key, [source('src-p2', { title: canary('src-p2.title (pending revision)'), ...restricted('src-p2 rev 2') })]);

  const first = await publishOk(stack);
  expect(first.published).toBe(true);
  expect(first.record_counts.persons).toBe(6);
  expect(first.record_counts.sources).toBe(2);

  // A second release: the living person's new revision (new canaries, new precise place) and a
  // retraction, so the bucket holds two releases, a changes table with a delete, and latest/.
  await submitOk(stack, stack.editorKey, [
    person('per-living', ['src-p1'], {
      ...restricted('per-living rev 2'),
      name: canary('per-living.name rev 2'),
      name_fa: canary('per-living.name_fa rev 2'),
      fate: 'sentenced',
      location: { country: 'IR', admin1: 'Tehran', admin2: canary('per-living.location.admin2 rev 2'), place: canary('per-living.location.place rev 2'), latitude: LIVING_LAT, longitude: LIVING_LON, geo_precision: 'neighbourhood' },
    }),
  ]);
  await retract(stack, 'person', 'per-consent', 'withdrawn at the family’s request');
  const second = await publishOk(stack);
  expect(second.published).toBe(true);
  expect(second.changes).toEqual({ add: 0, modify: 1, delete: 1 });
});
afterAll(async () => {
  await stack?.close();
});

describe('privacy: nothing restricted reaches the public bucket', () => {
  it('no canary, key id or key appears in any object (raw, gunzipped, or Parquet decoded by DuckDB)', async () => {
    expect(canaries.size).toBeGreaterThanOrEqual(30);
    const texts = await publicText();
    const leaks: string[] = [];
    const needles = new Map<string, string>([
      ...canaries,
      [String(LIVING_LAT), 'per-living.location.latitude'],
      [String(LIVING_LON), 'per-living.location.longitude'],
      [String(LIVING2_LAT), 'per-disappeared.location.latitude'],
      [String(LIVING2_LON), 'per-disappeared.location.longitude'],
      [editorKeyId, 'submitted_by (editor key id)'],
      [contributor.id, 'submitted_by (contributor key id)'],
      [stack.editorKey, 'the editor API key'],
      [contributor.key, 'the contributor API key'],
    ]);
    for (const { key, text } of texts) for (const [needle, where] of needles) if (text.includes(needle)) leaks.push(`${where} → ${key}`);
    expect(leaks).toEqual([]);
    // The search did look at the published records.
    const all = texts.map((t) => t.text).join('\n');
    expect(all).toContain('Public Name Example');
    expect(all).toContain('Ghezel Hesar Prison');
  });

  it('published records carry no restricted or submitted_by field at all', async () => {
    const cat = JSON.parse((await fetchObject(stack.publicBaseUrl, 'catalog.json')).toString('utf8'));
    for (const v of cat.versions) {
      for (const t of ['sources', 'events', 'claims', 'persons']) {
        const rows = gunzipSync(await fetchObject(stack.publicBaseUrl, `releases/${v.version}/json/${t}.ndjson.gz`))
          .toString('utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Json);
        for (const r of rows) {
          expect(r, `${v.version} ${t} ${r.id}`).not.toHaveProperty('restricted');
          expect(r).not.toHaveProperty('submitted_by');
          expect(r).not.toHaveProperty('expected_revision');
        }
      }
    }
  });

  it('in Parquet and NDJSON: withheld names null, living persons located to the province only, the dead kept exact, public names kept', async () => {
    const cat = JSON.parse((await fetchObject(stack.publicBaseUrl, 'catalog.json')).toString('utf8'));
    const dir = await mkdtemp(join(tmpdir(), 'ledger-privacy-persons-'));
    try {
      await withDuckDb(async (q) => {
        for (const v of cat.versions.map((x: Json) => x.version) as string[]) {
          const file = join(dir, `${v}.parquet`);
          await writeFile(file, await fetchObject(stack.publicBaseUrl, `releases/${v}/tables/persons/part-00000.parquet`));
          const rows = new Map((await q(`SELECT id, name, name_fa, name_disclosure, fate, country, admin1, admin2, place, latitude, longitude, geo_precision FROM read_parquet(${sqlString(file)})`)).map((r) => [r.id, r]));
          const living = rows.get('per-living');
          expect(living, v).toMatchObject({ name: null, name_fa: null, name_disclosure: 'withheld', country: 'IR', admin1: 'Tehran', admin2: null, place: null, latitude: null, longitude: null, geo_precision: 'province' });
          expect(rows.get('per-disappeared'), v).toMatchObject({ name: null, name_fa: null, country: 'IR', admin1: 'Fars', admin2: null, place: null, latitude: null, longitude: null, geo_precision: 'country' });
          expect(rows.get('per-contrib'), v).toMatchObject({ name: null, admin1: 'Kurdistan', admin2: null, place: null, latitude: null, longitude: null, geo_precision: 'province' });
          expect(rows.get('per-withheld'), v).toEqual({ id: 'per-withheld', name: null, name_fa: null, name_disclosure: 'withheld', fate: 'killed', country: 'IR', ...DEAD_LOC });
          expect(rows.get('per-public'), v).toEqual({ id: 'per-public', name: 'Public Name Example', name_fa: 'نام عمومی', name_disclosure: 'public_record', fate: 'executed', country: 'IR', admin1: 'Alborz', admin2: 'Karaj', place: 'Ghezel Hesar Prison', latitude: 35.83, longitude: 50.99, geo_precision: 'exact' });
          if (rows.has('per-consent')) expect(rows.get('per-consent')).toMatchObject({ name: 'Consenting Name', name_disclosure: 'consent' });
        }
      });
    } finally {
      await removeDir(dir);
    }
    const persons = gunzipSync(await fetchObject(stack.publicBaseUrl, 'latest/json/persons.ndjson.gz'))
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json);
    const living = persons.find((p) => p.id === 'per-living');
    expect(living).toMatchObject({ revision: 2, fate: 'sentenced', name: null, name_fa: null, location: { country: 'IR', admin1: 'Tehran', admin2: null, place: null, latitude: null, longitude: null, geo_precision: 'province' } });
    expect(persons.find((p) => p.id === 'per-withheld')).toMatchObject({ name: null, name_fa: null, location: { country: 'IR', ...DEAD_LOC } });
    expect(persons.find((p) => p.id === 'per-public')).toMatchObject({ name: 'Public Name Example', name_fa: 'نام عمومی' });
    expect(persons.map((p) => p.id)).not.toContain('per-consent');
  });
});
