import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EVENT_DAY_WINDOW,
  MAP_MAX_BINS,
  RECENT_ROWS,
  RELEASES_LISTED,
  TOLL_MAX_CLAIMS,
  TOLL_MAX_GROUPS,
  claimValueText,
  emptyLanding,
  groupComparable,
  landingPage,
  niceCeil,
  type LandingData,
  type LandingInput,
  type TollClaim,
} from '../../pipeline/landing-page.ts';
import { flatRow } from '../../pipeline/publish/read-changes.ts';
import type { Manifest } from '../../schemas/release.ts';
import { KIND_TABLE, TABLES } from '../../schemas/tables.ts';
import { DuckDbReleaseBuilder } from '../../storage/duckdb-release-builder.ts';

const V1 = '20260117T120000Z';
const V2 = '20260118T120000Z';
const catalog = {
  name: 'rights-ledger',
  latest: V2,
  latest_manifest: `releases/${V2}/manifest.json`,
  versions: [
    { version: V2, created: '2026-01-18T12:00:03Z', manifest: `releases/${V2}/manifest.json`, record_counts: { sources: 5, events: 4, claims: 3, changes: 2 } },
    { version: V1, created: '2026-01-17T12:00:03Z', manifest: `releases/${V1}/manifest.json`, record_counts: { sources: 4, events: 3, claims: 2, changes: 9 } },
  ],
};
const manifest = {
  $schema: 'https://datapackage.org/profiles/2.0/datapackage.json',
  name: 'rights-ledger',
  title: 'Rights Ledger',
  version: V2,
  created: '2026-01-18T12:00:03Z',
  previous_version: V1,
  previous_manifest_sha256: 'a'.repeat(64),
  licenses: [{ name: 'CC-BY-4.0', path: 'https://creativecommons.org/licenses/by/4.0/' }],
  record_counts: catalog.versions[0]!.record_counts,
  changes: { add: 1, modify: 1, delete: 0 },
  resources: [],
} as Manifest;

const claim = (id: string, extra: Partial<TollClaim> = {}): TollClaim => ({
  id,
  metric: 'killed',
  population: 'all',
  area: 'IR',
  claimant: `Claimant ${id}`,
  claimant_type: 'ngo',
  qualifier: 'exact',
  low: null,
  best: 100,
  high: null,
  period_start: '2025-12-28',
  period_end: '2026-01-13',
  event_id: null,
  ...extra,
});

/** The example dataset's country-wide death tolls: January 2026, and one for November 2019. */
const JANUARY = [
  claim('clm-iran-international-killed-12000', { claimant: 'Iran International', claimant_type: 'media', qualifier: 'at_least', low: 12000, best: null, event_id: 'evt-killings-2026-01-08' }),
  claim('clm-ihr-killed-6000', { claimant: 'Iran Human Rights (IHR)', qualifier: 'approximately', best: 6000 }),
  claim('clm-official-killed-2000', { claimant: 'Unnamed Iranian official', claimant_type: 'state_official', qualifier: 'at_least', low: 2000, best: null }),
  claim('clm-ghalibaf-killed-thousands-2026-01-08', { claimant: 'Mohammad Bagher Ghalibaf', claimant_type: 'state_official', qualifier: 'at_least', low: 2000, best: null, period_start: '2026-01-08', period_end: '2026-01-09', event_id: 'evt-killings-2026-01-08' }),
];
const NOV_2019 = claim('clm-november-2019-killed-1500', { claimant: 'Unnamed author of a pro-NCRI article', claimant_type: 'opposition', best: 1500, period_start: '2019-11-01', period_end: '2019-11-30' });

function data(extra: Partial<LandingData> = {}): LandingData {
  return {
    ...emptyLanding(),
    events: { total: 5, perDay: [{ day: '2026-01-08', type: 'protest', n: 2 }, { day: '2026-01-09', type: 'lethal_force', n: 1 }], coarseDates: 1, beforeWindow: 0 },
    map: { bins: [{ lat: 35.69, lon: 51.39, n: 3, precision: 'city', place: 'Tehran' }, { lat: 37.55, lon: 45.07, n: 1, precision: 'exact', place: 'Urmia' }], withoutCoordinates: 2, omittedBins: 0, omittedEvents: 0 },
    tolls: { claims: [...JANUARY, NOV_2019], omittedSets: 0, omittedClaims: 0 },
    ...extra,
  };
}

const input = (d: LandingData = data(), files = new Map([[V2, [{ path: 'tables/events/part-00000.parquet', bytes: 1234, sha256: 'b'.repeat(64) }]]])): LandingInput => ({
  title: 'Rights Ledger',
  publicBaseUrl: 'https://ledger.example.org',
  catalog,
  manifest,
  manifestSha256: 'c'.repeat(64),
  data: d,
  files,
});

/** The charts of a page: each <figure class="chart"> with its SVG and its text alternative. */
const figures = (html: string) => [...html.matchAll(/<figure class="chart"[\s\S]*?<\/figure>/g)].map((m) => m[0]);

describe('grouping claims into comparable sets', () => {
  it('keeps the November 2019 toll of 1,500 out of the January 2026 tolls, which share one chart', () => {
    const groups = groupComparable([...JANUARY, NOV_2019]);
    expect(groups.map((g) => g.map((c) => c.id))).toEqual([
      ['clm-iran-international-killed-12000', 'clm-ihr-killed-6000', 'clm-ghalibaf-killed-thousands-2026-01-08', 'clm-official-killed-2000'],
      ['clm-november-2019-killed-1500'],
    ]);
  });

  it('never puts claims of another metric, population or area in the same chart, however their periods overlap', () => {
    const groups = groupComparable([claim('a'), claim('b', { metric: 'injured' }), claim('c', { population: 'security_forces' }), claim('d', { area: 'IR / Ilam / Malekshahi' })]);
    expect(groups).toHaveLength(4);
  });

  it('groups only claims that are pairwise comparable: a chain of overlaps is split', () => {
    const groups = groupComparable([
      claim('a', { period_start: '2026-01-01', period_end: '2026-01-10' }),
      claim('b', { period_start: '2026-01-09', period_end: '2026-01-20' }),
      claim('c', { period_start: '2026-01-19', period_end: '2026-01-30' }),
    ]);
    expect(groups.map((g) => g.map((c) => c.id).sort())).toEqual([['a', 'b'], ['c']]);
  });

  it('puts claims about the same event together even when their periods do not overlap', () => {
    const groups = groupComparable([
      claim('a', { period_start: '2026-01-08', period_end: '2026-01-08', event_id: 'evt-x' }),
      claim('b', { period_start: '2026-01-20', period_end: '2026-01-20', event_id: 'evt-x' }),
    ]);
    expect(groups).toHaveLength(1);
  });
});

describe('a claim as text', () => {
  it('never lets a lower bound or an estimate read as exact', () => {
    expect(claimValueText(claim('a', { qualifier: 'at_least', low: 12000, best: null }))).toBe('at least 12,000');
    expect(claimValueText(claim('a', { qualifier: 'approximately', best: 6000 }))).toBe('about 6,000');
    expect(claimValueText(claim('a', { qualifier: 'up_to', high: 50, best: null }))).toBe('up to 50');
    expect(claimValueText(claim('a', { qualifier: 'range', low: 10, high: 20, best: null }))).toBe('10–20');
    expect(claimValueText(claim('a', { qualifier: 'exact', best: 1500 }))).toBe('exactly 1,500');
  });

  it('rounds an axis up to a number a reader can use', () => {
    expect([niceCeil(1), niceCeil(12960), niceCeil(137), niceCeil(3), niceCeil(2_160_000)]).toEqual([1, 15000, 150, 3, 2_500_000]);
  });
});

describe('landingPage', () => {
  it('charts the conflicting tolls so that only comparable claims share a chart', () => {
    const tolls = figures(landingPage(input())).filter((f) => f.includes('class="claim '));
    expect(tolls).toHaveLength(2);
    const [january, november] = tolls;
    for (const c of JANUARY) expect(january).toContain(c.claimant);
    expect(january).not.toContain('2019-11');
    expect(november).toContain('2019-11-01 – 2019-11-30');
    expect(november).not.toContain('Iran International');
  });

  it('shows the qualifier: "at least" as words and as an open-ended mark, unlike an exact number', () => {
    const [january, november] = figures(landingPage(input())).filter((f) => f.includes('class="claim '));
    const ii = january!.match(/<g class="claim q-at_least">(?:(?!<\/g>)[\s\S])*Iran International[\s\S]*?<\/g>/)![0];
    expect(ii).toContain('at least 12,000');
    expect(ii).toMatch(/<polygon class="open"/);
    expect(ii).not.toMatch(/class="exact"/);
    const exact = november!.match(/<g class="claim q-exact">[\s\S]*?<\/g>/)![0];
    expect(exact).toContain('exactly 1,500');
    expect(exact).not.toContain('class="open"');
    // And in the table, for those who read numbers.
    expect(january).toMatch(/<td class="n">at least 12,000<\/td><td>at least<\/td>/);
  });

  it('labels each claim with its claimant and the claimant type', () => {
    const html = landingPage(input());
    expect(html).toMatch(/<text[^>]*class="lab">Iran International<\/text><text[^>]*class="sub">media · at least 12,000 · 2025-12-28 – 2026-01-13<\/text>/);
  });

  it('escapes hostile text in every position: claimant, Persian description, names, places, event types', () => {
    const evil = '<script>alert(1)</script>"\'&';
    const escaped = '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;';
    const d = data({
      events: { total: 1, perDay: [{ day: '2026-01-08', type: evil, n: 1 }], coarseDates: 0, beforeWindow: 0 },
      map: { bins: [{ lat: 35, lon: 51, n: 1, precision: evil, place: evil }], withoutCoordinates: 0, omittedBins: 0, omittedEvents: 0 },
      tolls: { claims: [claim(evil, { claimant: evil, claimant_type: evil, qualifier: evil, metric: evil, population: evil, area: evil, event_id: evil })], omittedSets: 0, omittedClaims: 0 },
      recentEvents: [{ id: evil, date_start: '2026-01-08', date_end: null, event_type: evil, place: evil, description: evil, description_fa: evil }],
      namedPersons: [{ id: evil, name: evil, name_fa: evil, fate: evil, fate_date: null }],
    });
    const html = landingPage(input(d));
    expect(html).not.toContain('<script');
    expect(html).not.toContain('alert(1)</');
    // Every place a record string lands: SVG labels and titles, tables, lists, Persian paragraphs, legend.
    const count = html.split(escaped).length - 1;
    expect(count).toBeGreaterThanOrEqual(15);
    for (const where of [
      `class="lab">${escaped}</text>`,
      `<td><bdi>${escaped}</bdi></td><td>${escaped}</td>`,
      `<bdi lang="fa" dir="rtl">${escaped}</bdi>`,
      `<span class="sw" style="background:#bdbdbd"></span>${escaped}</li>`,
      `<td><bdi>${escaped}</bdi></td><td class="n">35.000</td>`,
    ]) expect(html, where).toContain(where);
    expect(html).toContain(`<li><bdi>${escaped}</bdi> · <bdi lang="fa" dir="rtl">${escaped}</bdi>`);
  });

  it('isolates record strings: no bidi control anywhere outside a <bdi>, in HTML or in SVG', () => {
    const RLO = '\u202e';
    const RLI = '\u2067';
    const d = data({
      tolls: { claims: [claim('a', { claimant: `Official${RLO} 000,21 :said NGO` }), claim('b', { claimant: `${RLI}NGO` })], omittedSets: 0, omittedClaims: 0 },
      recentEvents: [{ id: 'e', date_start: '2026-01-08', date_end: null, event_type: 'protest', place: `Tehran${RLO}`, description: `x${RLI}`, description_fa: `ف${RLO}` }],
    });
    const html = landingPage(input(d));
    expect(html).toContain(`<td><bdi>Official${RLO} 000,21 :said NGO</bdi></td>`);
    const outside = html.replace(/<bdi[^>]*>[^<]*<\/bdi>/g, '');
    expect(outside).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/);
  });

  it('shows Persian text right to left in its own language', () => {
    const d = data({
      recentEvents: [{ id: 'e', date_start: '2026-01-08', date_end: null, event_type: 'protest', place: null, description: 'Protest', description_fa: 'تظاهرات در تهران' }],
      namedPersons: [{ id: 'p', name: 'Name', name_fa: 'نام', fate: 'killed', fate_date: '2026-01-08' }],
    });
    const html = landingPage(input(d));
    expect(html).toContain('<bdi lang="fa" dir="rtl">تظاهرات در تهران</bdi>');
    expect(html).toContain('<bdi lang="fa" dir="rtl">نام</bdi>');
  });

  it('draws a map point per cell with coordinates, styled by precision, and none for events without coordinates', () => {
    const html = landingPage(input());
    const points = [...html.matchAll(/<circle class="pt p-(\w+)" cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => m[1]);
    expect(points.sort()).toEqual(['city', 'exact']);
    expect(html).toContain('2 events have no coordinates and are not on the map');
    const none = landingPage(input(data({ map: { bins: [], withoutCoordinates: 4, omittedBins: 0, omittedEvents: 0 } })));
    expect(none).not.toContain('class="pt ');
    expect(none).toContain('<path class="outline"');
    expect(none).toContain('4 events have no coordinates');
  });

  it('gives every chart role="img", a <title>, a caption and a table of its numbers', () => {
    const figs = figures(landingPage(input()));
    expect(figs.length).toBe(4);
    for (const f of figs) {
      expect(f).toMatch(/<svg viewBox="0 0 400 \d+" width="100%" role="img" aria-labelledby="(c\d+)-t" aria-describedby="c\d+-cap"[^>]*><title id="\1-t">[^<]+<\/title>/);
      expect(f).toMatch(/<figcaption id="c\d+-cap">[^<]/);
      expect(f).toMatch(/<details><summary>[^<]+<\/summary><div class="scroll"><table>[\s\S]*<tbody><tr>/);
    }
  });

  it('holds no script and no external resource: every src or href is a relative path in the bucket', () => {
    const html = landingPage(input());
    expect(html).not.toMatch(/<script|<link|<img|<iframe|<object|@import|url\(/i);
    const refs = [...html.matchAll(/\s(?:src|href|xlink:href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(5);
    for (const r of refs) expect(r, r).toMatch(/^(releases\/\d{8}T\d{6}Z\/[\w./-]+|catalog\.json|athena\/tables\.sql)$/);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`);
  });

  it('says how to cite the release: version, manifest URL, licence, BibTeX and CSL-JSON', () => {
    const html = landingPage(input());
    expect(html).toContain(`Release ${V2}`);
    expect(html).toContain(`https://ledger.example.org/releases/${V2}/manifest.json`);
    expect(html).toContain('CC-BY-4.0');
    const bib = html.match(/<summary>BibTeX<\/summary><pre>([\s\S]*?)<\/pre>/)![1]!;
    expect(bib).toMatch(new RegExp(`^@misc\\{rights-ledger-${V2},`));
    expect(bib).toContain(`version = {${V2}}`);
    const csl = JSON.parse(html.match(/<summary>CSL-JSON<\/summary><pre>([\s\S]*?)<\/pre>/)![1]!.replaceAll('&quot;', '"'));
    expect(csl[0]).toMatchObject({ type: 'dataset', version: V2, URL: `https://ledger.example.org/releases/${V2}/manifest.json` });
  });

  it('shows counts per table beside the previous release, and the changes from the manifest', () => {
    const html = landingPage(input());
    expect(html).toContain('<tr><th scope="row">events</th><td class="n">4</td><td class="n">3</td></tr>');
    expect(html).toContain(`Changes since the previous release ${V1}: <strong>1</strong> added, <strong>1</strong> modified, <strong>0</strong> deleted`);
  });

  it('lists every release; the ones with a file table show each file with its size and SHA-256, older ones link manifest and SHA256SUMS', () => {
    const html = landingPage(input());
    expect(html).toContain(
      `<tr class="file"><td><a href="releases/${V2}/tables/events/part-00000.parquet">tables/events/part-00000.parquet</a></td><td class="n" data-bytes="1234">1,234</td></tr><tr class="hash"><td colspan="2"><code class="h">${'b'.repeat(64)}</code></td></tr>`,
    );
    expect(html).toContain(`<a href="releases/${V1}/manifest.json">manifest.json</a> · <a href="releases/${V1}/SHA256SUMS">SHA256SUMS</a></li>`);
  });

  it('lists the newest RELEASES_LISTED releases, whatever the history; catalog.json has the rest', () => {
    const many = Array.from({ length: RELEASES_LISTED + 50 }, (_, i) => ({ ...catalog.versions[1]!, version: `2025${String(1 + Math.floor(i / 28)).padStart(2, '0')}${String(1 + (i % 28)).padStart(2, '0')}T000000Z` }));
    const html = landingPage({ ...input(), catalog: { ...catalog, versions: [catalog.versions[0]!, ...many] } });
    expect(html.match(/<li><strong>\d{8}T\d{6}Z<\/strong>/g)).toHaveLength(RELEASES_LISTED);
    expect(html).toContain('51 older releases are listed in <a href="catalog.json">catalog.json</a>');
  });
});

describe("the builder's landing aggregates (real DuckDB, no network)", () => {
  /** Builds one full release from generated records and returns what the landing page would get. */
  async function build(records: Array<Record<string, unknown>>): Promise<LandingData> {
    const dir = await mkdtemp(join(tmpdir(), 'ledger-landing-'));
    try {
      const changes = join(dir, 'changes');
      await mkdir(changes);
      const lines: Record<string, string[]> = { sources: [], events: [], claims: [], persons: [], event_actors: [], touched: [] };
      for (const r of records) {
        const table = KIND_TABLE[r.kind as keyof typeof KIND_TABLE];
        lines[table]!.push(JSON.stringify(flatRow({ revision: 1, updated_at: '2026-01-20T00:00:00.000Z', first_published: null, ...r }, TABLES[table])));
        lines.touched!.push(JSON.stringify({ id: r.id, table_name: table, reason: null }));
      }
      for (const [t, l] of Object.entries(lines)) await writeFile(join(changes, `${t}.ndjson`), l.length ? `${l.join('\n')}\n` : '');
      const builder = await DuckDbReleaseBuilder.open({ tempDirectory: join(dir, 'duck'), threads: 1 });
      try {
        const built = await builder.build({ version: '20260120T000000Z', full: true, carryPrevious: true, changesDir: changes, outDir: join(dir, 'out'), partRows: 1_000_000, maxDropShare: 0.01 });
        expect(built.problems).toEqual([]);
        return built.landing;
      } finally {
        await builder.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const day = (i: number) => new Date(Date.UTC(2024, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
  const ev = (id: string, extra: Record<string, unknown>) => ({ id, kind: 'event', event_type: 'protest', date_precision: 'day', verification: 'reported', description: `d ${id}`, source_ids: ['src-1'], ...extra });

  it(`stays bounded at any size: ${EVENT_DAY_WINDOW} days, the ${MAP_MAX_BINS} fullest map marks, ${TOLL_MAX_GROUPS} sets of ${TOLL_MAX_CLAIMS} claims, ${RECENT_ROWS} latest events; the rest counted`, async () => {
    const records: Array<Record<string, unknown>> = [{ id: 'src-1', kind: 'source', title: 'T', publisher: 'P', publisher_type: 'ngo', medium: 'article', reliability: 'unknown' }];
    // 2,500 events each alone in its cell, dated over 800 days; 10 more in one cell (the fullest).
    for (let i = 0; i < 2500; i++) records.push(ev(`evt-grid-${i}`, { date_start: day(i % 800), location: { country: 'IR', latitude: -60 + (i % 100) * 0.5, longitude: -170 + Math.floor(i / 100) * 0.5, geo_precision: 'city' } }));
    for (let i = 0; i < 10; i++) records.push(ev(`evt-tehran-${i}`, { event_type: 'riot', date_start: day(799), location: { country: 'IR', admin2: 'Tehran', latitude: 35.69, longitude: 51.39, geo_precision: i === 0 ? 'exact' : 'city' } }));
    for (let i = 0; i < 40; i++) records.push(ev(`evt-nowhere-${i}`, { date_start: day(799), location: { country: 'IR', admin1: 'Tehran' } }));
    for (let i = 0; i < 30; i++) records.push(ev(`evt-month-${i}`, { date_start: day(700), date_precision: 'month', location: { country: 'IR' } }));
    // 30 sets of 30 comparable claims (one province each).
    for (let k = 0; k < 30; k++) {
      for (let j = 0; j < 30; j++) {
        records.push({ id: `clm-${k}-${j}`, kind: 'claim', metric: 'killed', population: 'all', value: { best: 100 * k + j }, qualifier: 'exact', claimant: `Claimant ${j}`, claimant_type: 'ngo', period_start: '2026-01-01', period_end: '2026-01-10', area: { country: 'IR', admin1: `Province ${k}` }, source_ids: ['src-1'] });
      }
    }
    const landing = await build(records);

    const daily = 2500 + 10 + 40;
    const perDayTotal = landing.events.perDay.reduce((a, r) => a + r.n, 0);
    expect(landing.events.total).toBe(daily + 30);
    expect(landing.events.coarseDates).toBe(30);
    expect(new Set(landing.events.perDay.map((r) => r.day)).size).toBeLessThanOrEqual(EVENT_DAY_WINDOW);
    expect(landing.events.perDay[0]!.day).toBe(day(799 - EVENT_DAY_WINDOW + 1));
    expect(perDayTotal + landing.events.beforeWindow).toBe(daily);
    expect(landing.events.beforeWindow).toBeGreaterThan(0);

    expect(landing.map.bins).toHaveLength(MAP_MAX_BINS);
    // The fullest first; the one exact event in that cell is a mark of its own (one of the 2,501 single ones).
    expect(landing.map.bins[0]).toMatchObject({ n: 9, precision: 'city', place: 'Tehran' });
    expect(landing.map.withoutCoordinates).toBe(40 + 30);
    expect(landing.map.omittedBins).toBe(2500 + 2 - MAP_MAX_BINS);
    expect(landing.map.bins.reduce((a, b) => a + b.n, 0) + landing.map.omittedEvents).toBe(2510);

    const sets = new Set(landing.tolls.claims.map((c) => c.area));
    expect(sets.size).toBe(TOLL_MAX_GROUPS);
    for (const s of sets) expect(landing.tolls.claims.filter((c) => c.area === s)).toHaveLength(TOLL_MAX_CLAIMS);
    expect(landing.tolls.omittedSets).toBe(30 - TOLL_MAX_GROUPS);
    expect(landing.tolls.omittedClaims).toBe(900 - TOLL_MAX_GROUPS * TOLL_MAX_CLAIMS);
    // The largest of each set, and its area spelled out.
    expect(landing.tolls.claims.filter((c) => c.area === 'IR / Province 0').map((c) => c.best)).toEqual(Array.from({ length: TOLL_MAX_CLAIMS }, (_, j) => 29 - j));
    expect(groupComparable(landing.tolls.claims)).toHaveLength(TOLL_MAX_GROUPS);
    expect(landing.recentEvents).toHaveLength(RECENT_ROWS);
    expect(JSON.stringify(landing).length).toBeLessThan(600_000);
  }, 120_000);

  it('keeps the 2019 toll in another set than the January 2026 tolls, and a claim without area is about the default country', async () => {
    const records: Array<Record<string, unknown>> = [{ id: 'src-1', kind: 'source', title: 'T', publisher: 'P', publisher_type: 'ngo', medium: 'article', reliability: 'unknown' }];
    const body = (await readFile('examples/records.ndjson', 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const r of body.filter((r) => r.kind === 'claim' && r.metric === 'killed' && r.population === 'all' && !r.area)) records.push({ ...r, source_ids: ['src-1'], event_id: undefined });
    const landing = await build(records);
    expect(new Set(landing.tolls.claims.map((c) => c.area))).toEqual(new Set(['IR']));
    const groups = groupComparable(landing.tolls.claims).map((g) => g.map((c) => c.id));
    expect(groups).toContainEqual(['clm-november-2019-killed-1500']);
    expect(groups.find((g) => g.includes('clm-iran-international-killed-12000'))).not.toContain('clm-november-2019-killed-1500');
  }, 60_000);
});
