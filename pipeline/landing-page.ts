import type { Catalog } from '../schemas/release.ts';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * A string from a record, escaped and isolated in `<bdi>`: its direction is its own, and a bidi control
 * in it (U+202E, U+2067, …) cannot reorder the text around it. The characters are kept as data.
 */
const isolate = (s: string) => `<bdi>${esc(s)}</bdi>`;

/** One bar per published death-toll claim: conflicting numbers side by side, never merged. */
export interface TollBar {
  claimant: string;
  value: number;
  qualifier: string;
  period: string;
}

/** A bar chart as a table: labels wrap, numbers stay readable, and it works without scripts. */
function bars(items: ReadonlyArray<{ labelHtml: string; value: number; note?: string }>, title: string): string {
  if (items.length === 0) return '';
  const max = Math.max(...items.map((i) => i.value), 1);
  const rows = items
    .map((it) => {
      const pct = Math.max(0.5, (it.value / max) * 100).toFixed(1);
      return `<tr><th scope="row">${it.labelHtml}</th><td><span class="bar" style="width:${pct}%"></span></td><td class="n">${it.value.toLocaleString('en')}${it.note ? ` <small>${esc(it.note)}</small>` : ''}</td></tr>`;
    })
    .join('');
  return `<h2>${esc(title)}</h2><table class="chart">${rows}</table>`;
}

/** index.html: the latest release's counts, the conflicting tolls, and every release with its manifest. */
export function landingPage(catalog: Catalog, tolls: ReadonlyArray<TollBar>, title: string): string {
  const latest = catalog.versions[0]!;
  const counts = Object.entries(latest.record_counts).map(([label, value]) => ({ labelHtml: esc(label), value: value ?? 0 }));
  const tollItems = [...tolls].sort((a, b) => b.value - a.value).map((t) => ({ labelHtml: `${isolate(t.claimant)} (${isolate(t.period)})`, value: t.value, note: t.qualifier.replace('_', ' ') }));
  const releases = catalog.versions
    .map((v) => `<li><a href="${esc(v.manifest)}">${esc(v.version)}</a> — ${Object.entries(v.record_counts).map(([k, n]) => `${esc(k)} ${n}`).join(', ')}</li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:860px;margin:2rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2rem}
table.chart{border-collapse:collapse;width:100%}table.chart th{text-align:left;font-weight:normal;width:38%;padding:.2rem .6rem .2rem 0;vertical-align:middle}
table.chart td{padding:.2rem 0}table.chart td:nth-child(2){width:42%}.bar{display:block;height:1rem;background:#6b4f9e}.n{padding-left:.5rem!important;white-space:nowrap}</style></head>
<body><h1>${esc(title)}</h1>
<p>Latest release <strong>${esc(latest.version)}</strong> (created ${esc(latest.created)}): <a href="${esc(catalog.latest_manifest)}">manifest</a>, <a href="catalog.json">catalog</a>, <a href="athena/tables.sql">Athena tables</a>.</p>
<p>Query it with DuckDB: <code>SELECT * FROM read_parquet('latest/tables/claims/*.parquet')</code> (prefix the bucket URL).</p>
${bars(counts, 'Records in the latest release')}
${bars(tollItems, 'Published death tolls, by claimant and period (each claim as published, never merged; country-wide claims only)')}
<h2>Releases</h2><ul>${releases}</ul>
</body></html>
`;
}
