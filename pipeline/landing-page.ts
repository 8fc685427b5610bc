import outline from '../assets/iran-outline.json' with { type: 'json' };
import { GeoPrecision } from '../schemas/primitives.ts';
import { EventRecord } from '../schemas/records.ts';
import type { Catalog, Manifest } from '../schemas/release.ts';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * A string from a record, escaped and isolated in `<bdi>`: its direction is its own, and a bidi control
 * in it (U+202E, U+2067, …) cannot reorder the text around it. The characters are kept as data.
 */
const isolate = (s: string) => `<bdi>${esc(s)}</bdi>`;

/** Persian text from a record: right to left, isolated, in its own language (screen readers switch voice). */
const persian = (s: string) => `<bdi lang="fa" dir="rtl">${esc(s)}</bdi>`;

const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/**
 * A record string inside SVG (labels, titles), where `<bdi>` does not exist: bidi controls are dropped
 * (the full text, controls kept, is in the chart's table) and it is cut to `max` characters.
 */
const svgText = (s: string, max = 200) => {
  const plain = s.replace(BIDI_CONTROLS, '');
  return esc(plain.length > max ? `${plain.slice(0, max - 1)}…` : plain);
};

const num = (n: number) => n.toLocaleString('en-US');
const words = (s: string) => s.replaceAll('_', ' ');

/** Days of day-precision events shown per day (up to the newest one). */
export const EVENT_DAY_WINDOW = 366;
/** Map grid: events are counted per cell of this many degrees. */
export const MAP_GRID_DEGREES = 0.25;
/** At most this many map cells (the fullest ones). */
export const MAP_MAX_BINS = 600;
/** At most this many toll charts, and claims per chart. */
export const TOLL_MAX_GROUPS = 12;
export const TOLL_MAX_CLAIMS = 16;
/** Latest events and named persons listed (with their Persian text). */
export const RECENT_ROWS = 12;
/** Releases shown with a table of every file, its size and SHA-256; older ones link their manifest and SHA256SUMS. */
export const RELEASES_WITH_FILES = 5;
/** Releases listed at all (newest first); catalog.json lists every one. */
export const RELEASES_LISTED = 100;

/** One published claim that can be charted: a number with its claimant, period and qualifier. */
export interface TollClaim {
  id: string;
  metric: string;
  population: string;
  /** Where the claim is about ("IR", "IR / Ilam / Malekshahi"): claims about other areas are not comparable. */
  area: string;
  claimant: string;
  claimant_type: string;
  qualifier: string;
  low: number | null;
  best: number | null;
  high: number | null;
  period_start: string;
  /** period_end, or period_start for a claim about one day. */
  period_end: string;
  event_id: string | null;
}

/**
 * What the landing page shows of a release, aggregated by the builder in DuckDB over the release's own
 * tables: sizes are bounded by the constants above whatever the number of records.
 */
export interface LandingData {
  events: {
    total: number;
    /** Day-precision events per start day and type, over the EVENT_DAY_WINDOW days up to the newest one. */
    perDay: Array<{ day: string; type: string; n: number }>;
    /** Events dated only to the week, month or year: not placed on a day. */
    coarseDates: number;
    /** Day-precision events before the window. */
    beforeWindow: number;
  };
  map: {
    /** Events per grid cell and precision: their mean position, count, and most frequent place name. */
    bins: Array<{ lat: number; lon: number; n: number; precision: string; place: string | null }>;
    withoutCoordinates: number;
    /** Cells beyond MAP_MAX_BINS (the emptiest), and their events. */
    omittedBins: number;
    omittedEvents: number;
  };
  tolls: {
    /** Candidate claims (metric other than `other`, with a number), the most contested sets first. */
    claims: TollClaim[];
    /** Sets of overlapping claims, and claims in them, not shown because of the caps. */
    omittedSets: number;
    omittedClaims: number;
  };
  recentEvents: Array<{ id: string; date_start: string; date_end: string | null; event_type: string; place: string | null; description: string; description_fa: string | null }>;
  namedPersons: Array<{ id: string; name: string | null; name_fa: string | null; fate: string; fate_date: string | null }>;
}

export const emptyLanding = (): LandingData => ({
  events: { total: 0, perDay: [], coarseDates: 0, beforeWindow: 0 },
  map: { bins: [], withoutCoordinates: 0, omittedBins: 0, omittedEvents: 0 },
  tolls: { claims: [], omittedSets: 0, omittedClaims: 0 },
  recentEvents: [],
  namedPersons: [],
});

/** A file of a release, as SHA256SUMS and the bucket list it. */
export interface ReleaseFile {
  path: string;
  bytes: number;
  sha256: string;
}

const overlaps = (a: TollClaim, b: TollClaim) => a.period_start <= b.period_end && b.period_start <= a.period_end;

/**
 * Two claims may share a chart: the same metric, population and area, and periods that overlap or the
 * same event. (A toll for November 2019 and one for January 2026 never share a chart.)
 */
export function comparable(a: TollClaim, b: TollClaim): boolean {
  if (a.metric !== b.metric || a.population !== b.population || a.area !== b.area) return false;
  return overlaps(a, b) || (a.event_id !== null && a.event_id === b.event_id);
}

/**
 * Groups claims so that every pair in a group is comparable (not merely chained through a third), in
 * the order the sets first appear; each group's claims largest first.
 */
export function groupComparable(claims: readonly TollClaim[]): TollClaim[][] {
  const byStart = [...claims].sort((a, b) => (a.period_start < b.period_start ? -1 : a.period_start > b.period_start ? 1 : a.period_end < b.period_end ? -1 : a.period_end > b.period_end ? 1 : 0));
  const groups: TollClaim[][] = [];
  for (const c of byStart) {
    const home = groups.find((g) => g.every((m) => comparable(m, c)));
    if (home) home.push(c);
    else groups.push([c]);
  }
  const firstSeen = new Map(claims.map((c, i) => [c.id, i]));
  const first = (g: TollClaim[]) => Math.min(...g.map((c) => firstSeen.get(c.id)!));
  return groups.sort((a, b) => first(a) - first(b)).map((g) => g.sort((a, b) => pointOf(b) - pointOf(a) || (a.id < b.id ? -1 : 1)));
}

const pointOf = (c: TollClaim) => c.best ?? c.low ?? c.high ?? 0;
const topOf = (c: TollClaim) => Math.max(c.high ?? 0, c.best ?? 0, c.low ?? 0);

/** The claim's number in words, its qualifier never hidden: "at least 12,000", "about 6,000", "2,000–3,000". */
export function claimValueText(c: TollClaim): string {
  const v = pointOf(c);
  const range = c.low !== null && c.high !== null ? `${num(c.low)}–${num(c.high)}` : undefined;
  switch (c.qualifier) {
    case 'at_least':
      return `at least ${num(c.low ?? v)}`;
    case 'up_to':
      return `up to ${num(c.high ?? v)}`;
    case 'approximately':
      return `about ${num(v)}${range ? ` (${range})` : ''}`;
    case 'range':
      return range ? `${range}${c.best !== null ? `, best ${num(c.best)}` : ''}` : `range, ${num(v)}`;
    default:
      return `exactly ${num(v)}`;
  }
}

const periodText = (c: TollClaim) => (c.period_end !== c.period_start ? `${c.period_start} – ${c.period_end}` : c.period_start);

// Charts: SVG drawn in a viewBox this wide, scaled to the page's width.
const W = 400;
const TYPE_COLOURS: Record<string, string> = {
  protest: '#1f77b4',
  riot: '#ff7f0e',
  armed_clash: '#8c564b',
  lethal_force: '#d62728',
  killing: '#7b1fa2',
  execution: '#111111',
  death_sentence: '#5e35b1',
  arrest: '#2ca02c',
  raid: '#bcbd22',
  internet_shutdown: '#17becf',
  strike: '#9467bd',
  arson: '#e377c2',
  official_statement: '#7f7f7f',
  other: '#bdbdbd',
};
const EVENT_TYPES: readonly string[] = EventRecord.shape.event_type.options;
const colourOf = (t: string) => TYPE_COLOURS[t] ?? '#bdbdbd';

let ids = 0;
/** A chart: role="img" with its <title>, described by its caption; the numbers follow in a table. */
function figure(title: string, svgBody: string, viewH: number, caption: string, table: string, extra = ''): string {
  const id = `c${++ids}`;
  return `<figure class="chart" aria-labelledby="${id}-cap">
<svg viewBox="0 0 ${W} ${viewH.toFixed(0)}" width="100%" role="img" aria-labelledby="${id}-t" aria-describedby="${id}-cap" xmlns="http://www.w3.org/2000/svg"><title id="${id}-t">${esc(title)}</title>${svgBody}</svg>
${extra}<figcaption id="${id}-cap">${caption}</figcaption>
<details><summary>The numbers in this chart (table)</summary><div class="scroll">${table}</div></details>
</figure>`;
}

function eventsChart(d: LandingData['events']): string {
  const head = '<h2 id="events">Events per day, by type</h2>';
  if (d.perDay.length === 0) return `${head}<p>No event in this release is dated to the day.</p>`;
  const days: string[] = [];
  const first = new Date(`${d.perDay[0]!.day}T00:00:00Z`);
  const last = new Date(`${d.perDay[d.perDay.length - 1]!.day}T00:00:00Z`);
  for (let t = first.getTime(); t <= last.getTime(); t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
  const byDay = new Map<string, Map<string, number>>();
  for (const r of d.perDay) {
    const m = byDay.get(r.day) ?? new Map<string, number>();
    m.set(r.type, (m.get(r.type) ?? 0) + r.n);
    byDay.set(r.day, m);
  }
  const totals = days.map((day) => [...(byDay.get(day)?.values() ?? [])].reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  const top = 14;
  const plotH = 150;
  const left = 26;
  const bw = (W - left - 4) / days.length;
  const gap = bw > 4 ? 1 : 0;
  const types = EVENT_TYPES.filter((t) => d.perDay.some((r) => r.type === t)).concat([...new Set(d.perDay.map((r) => r.type))].filter((t) => !EVENT_TYPES.includes(t)));
  // One path per type (a rectangle per day): a year of days stays a few hundred kilobytes at most.
  const segments = new Map<string, string[]>(types.map((t) => [t, []]));
  const width = Math.max(0.5, bw - gap).toFixed(2);
  days.forEach((day, i) => {
    const m = byDay.get(day);
    if (!m) return;
    let y = top + plotH;
    for (const t of types) {
      const n = m.get(t);
      if (!n) continue;
      const h = (n / max) * plotH;
      y -= h;
      segments.get(t)!.push(`M${(left + i * bw).toFixed(2)} ${y.toFixed(2)}h${width}v${h.toFixed(2)}h-${width}z`);
    }
  });
  const bars = types.map((t) => `<path class="bar t-${esc(t)}" fill="${colourOf(t)}" d="${segments.get(t)!.join('')}"><title>${esc(words(t))}</title></path>`).join('');
  const axis =
    `<line x1="${left}" y1="${top + plotH}" x2="${W - 4}" y2="${top + plotH}" stroke="#999"/>` +
    `<line x1="${left}" y1="${top}" x2="${W - 4}" y2="${top}" stroke="#eee"/>` +
    `<text x="${left - 3}" y="${top + 4}" text-anchor="end" class="ax">${max}</text><text x="${left - 3}" y="${top + plotH}" text-anchor="end" class="ax">0</text>` +
    `<text x="${left}" y="${top + plotH + 13}" class="ax">${days[0]}</text>` +
    (days.length > 1 ? `<text x="${W - 4}" y="${top + plotH + 13}" text-anchor="end" class="ax">${days[days.length - 1]}</text>` : '');
  const legend = `<ul class="legend">${types.map((t) => `<li><span class="sw" style="background:${colourOf(t)}"></span>${esc(words(t))}</li>`).join('')}</ul>`;
  const shown = d.perDay.reduce((a, r) => a + r.n, 0);
  const caption =
    `Events dated to the day, counted on the day they started, stacked by type (${num(shown)} of ${num(d.total)} events; days ${days[0]} to ${days[days.length - 1]}; the tallest day has ${max}).` +
    (d.coarseDates > 0 ? ` ${num(d.coarseDates)} events dated only to the week, month or year are not placed on a day.` : '') +
    (d.beforeWindow > 0 ? ` ${num(d.beforeWindow)} earlier events fall before the ${EVENT_DAY_WINDOW} days shown.` : '');
  const rows = days
    .map((day, i) => ({ day, m: byDay.get(day), n: totals[i]! }))
    .filter((r) => r.m)
    .map((r) => `<tr><td>${r.day}</td><td class="n">${r.n}</td><td>${esc(types.filter((t) => r.m!.get(t)).map((t) => `${words(t)} ${r.m!.get(t)}`).join(', '))}</td></tr>`)
    .join('');
  const table = `<table><thead><tr><th>Day</th><th class="n">Events</th><th>By type</th></tr></thead><tbody>${rows}</tbody></table>`;
  return head + figure('Events per day, by type', axis + bars, top + plotH + 18, caption, table, legend);
}

/** The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k that is at least `v`: an axis end a reader can use. */
export function niceCeil(v: number): number {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * p).find((x) => x >= v)!;
}

function tollChart(group: TollClaim[]): string {
  const c0 = group[0]!;
  // Room to the right of a lower bound, so that its open end shows.
  const max = niceCeil(Math.max(1, ...group.map(topOf)) * (group.some((c) => c.qualifier === 'at_least') ? 1.25 : 1.05));
  const x0 = 8;
  const x1 = W - 8;
  const x = (v: number) => x0 + (v / max) * (x1 - x0);
  const rowH = 46;
  const top = 4;
  let body = '';
  group.forEach((c, i) => {
    const y = top + i * rowH;
    const my = y + 36;
    const v = pointOf(c);
    let mark = `<line x1="${x0}" y1="${my}" x2="${x1}" y2="${my}" stroke="#e4e4e4"/>`;
    if (c.low !== null && c.high !== null) {
      mark += `<line class="range" x1="${x(c.low).toFixed(1)}" y1="${my}" x2="${x(c.high).toFixed(1)}" y2="${my}" stroke="#333" stroke-width="2"/>`;
      mark += `<line x1="${x(c.low).toFixed(1)}" y1="${my - 5}" x2="${x(c.low).toFixed(1)}" y2="${my + 5}" stroke="#333"/><line x1="${x(c.high).toFixed(1)}" y1="${my - 5}" x2="${x(c.high).toFixed(1)}" y2="${my + 5}" stroke="#333"/>`;
    }
    if (c.qualifier === 'at_least') {
      // Open-ended to the right: the true number may be anywhere above.
      const from = x(c.low ?? v);
      mark += `<line class="open" x1="${from.toFixed(1)}" y1="${my}" x2="${x1 - 6}" y2="${my}" stroke="#b2182b" stroke-width="2" stroke-dasharray="5 3"/><polygon class="open" points="${x1},${my} ${x1 - 8},${my - 5} ${x1 - 8},${my + 5}" fill="#b2182b"/>`;
      mark += `<rect class="floor" x="${(from - 2).toFixed(1)}" y="${my - 7}" width="4" height="14" fill="#b2182b"/>`;
    } else if (c.qualifier === 'up_to') {
      const to = x(c.high ?? v);
      mark += `<line class="open" x1="${(x0 + 6).toFixed(1)}" y1="${my}" x2="${to.toFixed(1)}" y2="${my}" stroke="#2166ac" stroke-width="2" stroke-dasharray="5 3"/><polygon class="open" points="${x0},${my} ${x0 + 8},${my - 5} ${x0 + 8},${my + 5}" fill="#2166ac"/>`;
      mark += `<rect class="ceiling" x="${(to - 2).toFixed(1)}" y="${my - 7}" width="4" height="14" fill="#2166ac"/>`;
    } else if (c.qualifier === 'approximately') {
      mark += `<circle class="approx" cx="${x(v).toFixed(1)}" cy="${my}" r="5" fill="#fff" stroke="#333" stroke-width="2"/>`;
    } else if (c.qualifier === 'range') {
      if (c.best !== null) mark += `<circle cx="${x(c.best).toFixed(1)}" cy="${my}" r="3.5" fill="#333"/>`;
    } else {
      mark += `<circle class="exact" cx="${x(v).toFixed(1)}" cy="${my}" r="5" fill="#333"/>`;
    }
    const detail = `${words(c.claimant_type)} · ${claimValueText(c)} · ${periodText(c)}`;
    body += `<g class="claim q-${esc(c.qualifier)}"><title>${svgText(c.claimant, 500)}: ${esc(detail)}</title>`;
    body += `<text x="${x0}" y="${y + 11}" class="lab">${svgText(c.claimant, 52)}</text>`;
    body += `<text x="${x0}" y="${y + 24}" class="sub">${esc(detail)}</text>${mark}</g>`;
  });
  const axisY = top + group.length * rowH + 6;
  const grid = [0, max / 2, max].map((v) => `<line x1="${x(v).toFixed(1)}" y1="${top}" x2="${x(v).toFixed(1)}" y2="${axisY - 2}" stroke="#f0f0f0"/>`).join('');
  body = grid + body;
  body += `<text x="${x0}" y="${axisY + 8}" class="ax">0</text><text x="${x(max / 2).toFixed(1)}" y="${axisY + 8}" text-anchor="middle" class="ax">${num(max / 2)}</text><text x="${x1}" y="${axisY + 8}" text-anchor="end" class="ax">${num(max)}</text>`;
  const what = `${words(c0.metric)}, ${c0.population === 'all' ? 'everyone' : words(c0.population)}, ${c0.area}`;
  const from = group.reduce((a, c) => (c.period_start < a ? c.period_start : a), c0.period_start);
  const to = group.reduce((a, c) => (c.period_end > a ? c.period_end : a), c0.period_end);
  const title = `Claims of ${what}, ${from} to ${to}`;
  const caption = `${esc(title)}: ${group.length} claim${group.length === 1 ? '' : 's'}, each as its claimant published it.`;
  const rows = group
    .map((c) => `<tr><td>${isolate(c.claimant)}</td><td>${esc(words(c.claimant_type))}</td><td class="n">${esc(claimValueText(c))}</td><td>${esc(words(c.qualifier))}</td><td>${periodText(c)}</td><td>${c.event_id ? isolate(c.event_id) : ''}</td></tr>`)
    .join('');
  const table = `<table><thead><tr><th>Claimant</th><th>Type</th><th class="n">Number</th><th>Qualifier</th><th>Period</th><th>Event</th></tr></thead><tbody>${rows}</tbody></table>`;
  return `<div class="tolls">${figure(title, body, axisY + 12, caption, table)}</div>`;
}

function tollsSection(d: LandingData['tolls']): string {
  const head = '<h2 id="tolls">Conflicting counts, side by side</h2>';
  if (d.claims.length === 0) return `${head}<p>No claim with a number in this release.</p>`;
  const groups = groupComparable(d.claims);
  const shown = groups.slice(0, TOLL_MAX_GROUPS);
  const hiddenClaims = groups.slice(TOLL_MAX_GROUPS).reduce((a, g) => a + g.length, 0) + d.omittedClaims;
  const hiddenGroups = groups.length - shown.length + d.omittedSets;
  const key = `<svg class="key" viewBox="0 0 400 22" width="100%" aria-hidden="true"><circle cx="10" cy="11" r="5" fill="#333"/><text x="20" y="15" class="sub">exact</text><circle cx="70" cy="11" r="5" fill="#fff" stroke="#333" stroke-width="2"/><text x="80" y="15" class="sub">about</text><rect x="128" y="4" width="4" height="14" fill="#b2182b"/><line x1="132" y1="11" x2="168" y2="11" stroke="#b2182b" stroke-width="2" stroke-dasharray="5 3"/><polygon points="176,11 168,6 168,16" fill="#b2182b"/><text x="182" y="15" class="sub">at least</text><line x1="238" y1="11" x2="278" y2="11" stroke="#333" stroke-width="2"/><line x1="238" y1="6" x2="238" y2="16" stroke="#333"/><line x1="278" y1="6" x2="278" y2="16" stroke="#333"/><text x="286" y="15" class="sub">range (low–high)</text></svg>`;
  return `${head}<p>Each claim as its claimant published it, never added up or averaged. Only comparable claims share a chart: the same metric, population and area, and periods that overlap or the same event; a count for another period or place gets its own chart. Claims of metric “other” are not charted. A dot is a number given as exact, a ring one given as approximate, a bar with a dashed arrow a lower bound (“at least”: the true number may be anywhere to the right of the bar), a blue one pointing left an upper bound (“up to”), a whisker a range.${
    hiddenGroups > 0 || hiddenClaims > 0 ? ` Not shown here (the page stays small): ${num(hiddenGroups)} more sets and ${num(hiddenClaims)} more claims; every claim is in the <code>claims</code> table.` : ''
  }</p>${key}${shown.map(tollChart).join('')}`;
}

/** The outline's ring as [lon, lat] pairs. */
const OUTLINE = (outline as { geometry: { coordinates: number[][][] } }).geometry.coordinates[0]!;
/** A map mark's style per precision (CSS classes `p-…` in the page's style sheet); unknown: like country. */
const PRECISION_CSS = GeoPrecision.options.map((p) => `.p-${p}`).join(',') + '{fill:#b2182b;stroke:#b2182b}' +
  '.p-exact{fill-opacity:.9;stroke:none}.p-neighbourhood{fill-opacity:.6}.p-city{fill-opacity:.25;stroke-width:1.2}' +
  '.p-province{fill:none;stroke-width:1.2;stroke-dasharray:3 2}.p-country,.p-x{fill:none;stroke:#b2182b;stroke-width:1;stroke-dasharray:1 2}';
const precisionClass = (p: string) => ((GeoPrecision.options as readonly string[]).includes(p) ? `p-${p}` : 'p-x');
const radiusOf = (n: number) => Math.min(16, 3.5 + 1.6 * Math.sqrt(n));

function mapSection(d: LandingData['map']): string {
  const head = '<h2 id="map">Where events happened</h2>';
  const lons = [...OUTLINE.map((p) => p[0]!), ...d.bins.map((b) => b.lon)];
  const lats = [...OUTLINE.map((p) => p[1]!), ...d.bins.map((b) => b.lat)];
  const [lonMin, lonMax, latMin, latMax] = [Math.min(...lons) - 0.5, Math.max(...lons) + 0.5, Math.min(...lats) - 0.5, Math.max(...lats) + 0.5];
  const kx = Math.cos((((latMin + latMax) / 2) * Math.PI) / 180);
  const scale = W / ((lonMax - lonMin) * kx);
  const px = (lon: number) => ((lon - lonMin) * kx * scale).toFixed(1);
  const py = (lat: number) => ((latMax - lat) * scale).toFixed(1);
  const h = (latMax - latMin) * scale;
  const path = `M${OUTLINE.map((p) => `${px(p[0]!)},${py(p[1]!)}`).join('L')}Z`;
  let body = `<path class="outline" d="${path}" fill="#f4f1ea" stroke="#777" stroke-width="1"/>`;
  // Largest first, so that small cells stay on top and visible.
  for (const b of [...d.bins].sort((a, b2) => b2.n - a.n)) {
    body += `<circle class="pt ${precisionClass(b.precision)}" cx="${px(b.lon)}" cy="${py(b.lat)}" r="${radiusOf(b.n).toFixed(1)}"><title>${b.place ? `${svgText(b.place, 80)}: ` : ''}${b.n} event${b.n === 1 ? '' : 's'}, precision ${esc(b.precision)}</title></circle>`;
  }
  const swatch = (p: string) => `<svg class="sw" viewBox="0 0 14 14" aria-hidden="true"><circle class="${precisionClass(p)}" cx="7" cy="7" r="5.5"/></svg>`;
  const legend = `<ul class="legend">${GeoPrecision.options.map((p) => `<li>${swatch(p)}${esc(p)}</li>`).join('')}<li>larger circle: more events</li></ul>`;
  const total = d.bins.reduce((a, b) => a + b.n, 0);
  const caption =
    `${num(total)} events with coordinates, counted per cell of ${MAP_GRID_DEGREES}° (about ${Math.round(MAP_GRID_DEGREES * 111)} km) and precision, each mark at the mean of its events' coordinates; its style is their precision (a dashed or dotted ring: only the province or country is known).` +
    ` ${num(d.withoutCoordinates)} events have no coordinates and are not on the map.` +
    (d.omittedBins > 0 ? ` ${num(d.omittedBins)} cells with ${num(d.omittedEvents)} events are left off (the map shows the ${MAP_MAX_BINS} fullest).` : '') +
    ` Outline: Iran, the dataset's default country, from Natural Earth 1:110m (public domain; ${OUTLINE.length} vertices, coarse: for orientation only, not a statement about any border).`;
  const rows = [...d.bins]
    .sort((a, b) => b.n - a.n || a.lat - b.lat)
    .map((b) => `<tr><td>${b.place ? isolate(b.place) : ''}</td><td class="n">${b.lat.toFixed(3)}</td><td class="n">${b.lon.toFixed(3)}</td><td class="n">${b.n}</td><td>${esc(b.precision)}</td></tr>`)
    .join('');
  const table = `<table><thead><tr><th>Place (most frequent)</th><th class="n">Latitude</th><th class="n">Longitude</th><th class="n">Events</th><th>Precision</th></tr></thead><tbody>${rows}</tbody></table>`;
  return head + figure('Map of events by place', body, h, caption, table, legend);
}

function recentSection(data: LandingData): string {
  const ev = data.recentEvents
    .map(
      (e) =>
        `<li><strong>${e.date_start}${e.date_end && e.date_end !== e.date_start ? ` – ${e.date_end}` : ''}</strong> · ${esc(words(e.event_type))}${e.place ? ` · ${isolate(e.place)}` : ''}<br>${isolate(e.description)}${
          e.description_fa ? `<p class="fa" lang="fa" dir="rtl">${persian(e.description_fa)}</p>` : ''
        }</li>`,
    )
    .join('');
  const persons = data.namedPersons
    .map((p) => `<li>${p.name ? isolate(p.name) : ''}${p.name && p.name_fa ? ' · ' : ''}${p.name_fa ? persian(p.name_fa) : ''} — ${esc(words(p.fate))}${p.fate_date ? `, ${p.fate_date}` : ''}</li>`)
    .join('');
  return (
    `<h2 id="recent">Latest events</h2>${ev ? `<ul class="recent">${ev}</ul>` : '<p>None.</p>'}` +
    (persons ? `<h2 id="persons">Named persons</h2><p>The latest ${RECENT_ROWS} at most, named because their name is already public or they consented; every other name is withheld.</p><ul>${persons}</ul>` : '')
  );
}

function releasesSection(catalog: Catalog, files: ReadonlyMap<string, ReleaseFile[]>): string {
  const items = catalog.versions
    .slice(0, RELEASES_LISTED)
    .map((v, i) => {
      const base = `releases/${v.version}/`;
      const list = files.get(v.version);
      const counts = Object.entries(v.record_counts).map(([k, n]) => `${esc(k)} ${num(n ?? 0)}`).join(', ');
      const head = `<strong>${esc(v.version)}</strong> (${esc(v.created)}) — ${counts}. <a href="${esc(v.manifest)}">manifest.json</a> · <a href="${esc(base)}SHA256SUMS">SHA256SUMS</a>`;
      if (!list) return `<li>${head}</li>`;
      const rows = list
        .map((f) => `<tr class="file"><td><a href="${esc(base + f.path)}">${esc(f.path)}</a></td><td class="n" data-bytes="${f.bytes}">${num(f.bytes)}</td></tr><tr class="hash"><td colspan="2"><code class="h">${esc(f.sha256)}</code></td></tr>`)
        .join('');
      return `<li>${head}<details${i === 0 ? ' open' : ''}><summary>${list.length} files, with size and SHA-256</summary><table class="files"><thead><tr><th>File, and its SHA-256 below it</th><th class="n">Bytes</th></tr></thead><tbody>${rows}</tbody></table></details></li>`;
    })
    .join('');
  const more = catalog.versions.length - RELEASES_LISTED;
  return `<h2 id="releases">Releases</h2><p>Newest first. The newest ${RELEASES_WITH_FILES} list every file with its size and SHA-256 here (read from each release's SHA256SUMS, its manifest checked through the hash chain); for every release, its <code>manifest.json</code> lists every file with its size and SHA-256, and <code>SHA256SUMS</code> every hash.</p><ul class="releases">${items}</ul>${
    more > 0 ? `<p>${num(more)} older releases are listed in <a href="catalog.json">catalog.json</a>, each with its manifest.</p>` : ''
  }`;
}

/** What index.html is made of: the catalog just committed, the latest manifest, and the release's aggregates. */
export interface LandingInput {
  title: string;
  /** The bucket's public URL (no trailing slash), written in the citation as text; '' leaves the paths relative. */
  publicBaseUrl: string;
  catalog: Catalog;
  manifest: Manifest;
  manifestSha256: string;
  data: LandingData;
  /** File tables of the newest releases, by version (at most RELEASES_WITH_FILES). */
  files: ReadonlyMap<string, ReleaseFile[]>;
}

function citation(input: LandingInput): string {
  const m = input.manifest;
  const url = input.publicBaseUrl ? `${input.publicBaseUrl}/${input.catalog.latest_manifest}` : input.catalog.latest_manifest;
  const licences = m.licenses.map((l) => l.name).join(', ');
  const year = m.created.slice(0, 4);
  const line = `${m.name}: ${m.title}. Release ${m.version} (${m.created}). ${licences}. ${url} (SHA-256 of manifest.json: ${input.manifestSha256}).`;
  const bib = (s: string) => s.replace(/[{}\\]/g, '');
  const bibtex = `@misc{${bib(m.name).replace(/[^A-Za-z0-9_-]/g, '-')}-${m.version},
  title = {{${bib(m.title)}}},
  author = {{${bib(m.name)} contributors}},
  year = {${year}},
  version = {${m.version}},
  howpublished = {\\url{${bib(url)}}},
  note = {Licence ${bib(licences)}. SHA-256 of manifest.json: ${input.manifestSha256}}
}`;
  const [y, mo, d] = m.created.slice(0, 10).split('-').map(Number);
  const csl = JSON.stringify(
    [{ id: `${m.name}-${m.version}`, type: 'dataset', title: m.title, author: [{ literal: `${m.name} contributors` }], version: m.version, issued: { 'date-parts': [[y, mo, d]] }, URL: url, note: `Licence ${licences}. SHA-256 of manifest.json: ${input.manifestSha256}` }],
    null,
    2,
  );
  return `<h2 id="cite">How to cite this release</h2><p class="cite">${esc(line)}</p>
<p>Cite the release you used, by its version: its manifest lists every file with its SHA-256 and chains to the release before it, so anyone can check that what they hold is what you cited.</p>
<details><summary>BibTeX</summary><pre>${esc(bibtex)}</pre></details>
<details><summary>CSL-JSON</summary><pre>${esc(csl)}</pre></details>`;
}

function countsSection(catalog: Catalog, manifest: Manifest): string {
  const latest = catalog.versions[0]!;
  const prev = catalog.versions[1];
  const rows = Object.entries(latest.record_counts)
    .map(([t, n]) => `<tr><th scope="row">${esc(t)}</th><td class="n">${num(n ?? 0)}</td>${prev ? `<td class="n">${num(prev.record_counts[t as keyof typeof prev.record_counts] ?? 0)}</td>` : ''}</tr>`)
    .join('');
  const ch = manifest.changes;
  return `<h2 id="counts">Records in this release</h2>
<table class="counts"><thead><tr><th>Table</th><th class="n">Rows</th>${prev ? `<th class="n">Previous release</th>` : ''}</tr></thead><tbody>${rows}</tbody></table>
<p>Changes since ${manifest.previous_version ? `the previous release ${esc(manifest.previous_version)}` : 'nothing (this is the first release)'}: <strong>${num(ch.add)}</strong> added, <strong>${num(ch.modify)}</strong> modified, <strong>${num(ch.delete)}</strong> deleted (the <code>changes</code> table says which).</p>`;
}

/**
 * index.html: self-contained (inline CSS and SVG, no script, no external resource: it holds under
 * `default-src 'none'; style-src 'unsafe-inline'; img-src data:`, which it also declares), readable
 * on a phone, every record value escaped (text in `<bdi>`, Persian right to left).
 */
export function landingPage(input: LandingInput): string {
  ids = 0;
  const { catalog, manifest, data } = input;
  const latest = catalog.versions[0]!;
  const base = input.publicBaseUrl || 'BASE_URL';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(input.title)}</title>
<style>
*{box-sizing:border-box}body{font-family:system-ui,sans-serif;max-width:860px;margin:0 auto;padding:1rem;color:#222;line-height:1.45;overflow-wrap:anywhere}
h1{font-size:1.5rem;line-height:1.25}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
svg{display:block;max-width:100%;height:auto}figure.chart svg,svg.key{max-width:600px}figure{margin:1rem 0}figcaption{font-size:.9rem;color:#444}
table{border-collapse:collapse;width:100%;font-size:.9rem}table.counts th{overflow-wrap:normal}th,td{text-align:left;padding:.2rem .4rem;border-bottom:1px solid #e4e4e4;vertical-align:top}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.scroll{overflow-x:auto;max-width:100%}
table.files tr.file td{border-bottom:0;padding-bottom:0}code.h{font-size:.75rem;word-break:break-all;background:none;color:#555}ul{padding-left:1.2rem}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f5f5f5;padding:.5rem;font-size:.8rem}code{background:#f3f3f3;padding:0 .2rem}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.2rem 1rem;font-size:.85rem;margin:.3rem 0}
span.sw{display:inline-block;width:.8em;height:.8em;margin-right:.3em;vertical-align:-.05em}svg.sw{display:inline-block;width:1em;height:1em;margin-right:.3em;vertical-align:-.15em}
.lab{font-size:12px;font-weight:600}.sub{font-size:11px;fill:#555}.ax{font-size:10.5px;fill:#555}.fa{font-size:1.05rem;margin:.2rem 0}
ul.recent li,ul.releases li{margin-bottom:.6rem}summary{cursor:pointer}${PRECISION_CSS}
</style></head>
<body><h1>${esc(input.title)}</h1>
<p>An open, versioned ledger of human-rights documentation: <strong>events</strong> (where and when something happened), <strong>claims</strong> (numbers that someone published: conflicting tolls sit side by side, never merged into one), <strong>persons</strong> and the <strong>sources</strong> behind every record. Each release is an immutable, complete snapshot in Parquet and gzip NDJSON, described by a manifest whose SHA-256 chains it to the release before it. What could endanger people is never published: contact details, witnesses and editors' notes stay out, and a person's name is published only when it is already public or given with consent.</p>
<p>Licence: <strong>${esc(manifest.licenses.map((l) => l.name).join(', '))}</strong>${manifest.licenses[0]?.path ? ` (<code>${esc(String(manifest.licenses[0].path))}</code>)` : ''}: free to share and adapt, with credit.</p>
<p>Latest release <strong>${esc(latest.version)}</strong> (created ${esc(latest.created)}): <a href="${esc(catalog.latest_manifest)}">manifest</a>, <a href="releases/${esc(latest.version)}/SHA256SUMS">SHA256SUMS</a>, <a href="catalog.json">catalog</a>, <a href="athena/tables.sql">Athena tables</a>.</p>
<p>Query it with nothing to install but Node: <code>npx rights-ledger query --from ${esc(base)} "SELECT claimant, value_best FROM claims"</code>; or with DuckDB: <code>SELECT * FROM read_parquet('${esc(base)}/latest/tables/claims/part-00000.parquet')</code>.</p>
${citation(input)}
${countsSection(catalog, manifest)}
${eventsChart(data.events)}
${tollsSection(data.tolls)}
${mapSection(data.map)}
${recentSection(data)}
${releasesSection(catalog, input.files)}
</body></html>
`;
}
