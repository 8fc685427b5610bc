import type { Catalog } from '../schemas/release.ts';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** One bar per published death-toll claim: conflicting numbers side by side, never merged. */
export interface TollBar {
  claimant: string;
  value: number;
  qualifier: string;
}

function bars(items: ReadonlyArray<{ label: string; value: number; note?: string }>, title: string): string {
  if (items.length === 0) return '';
  const max = Math.max(...items.map((i) => i.value), 1);
  const rowH = 26;
  const rows = items
    .map((it, i) => {
      const w = Math.max(2, Math.round((it.value / max) * 360));
      const y = i * rowH;
      return `<text x="0" y="${y + 17}" font-size="13">${esc(it.label)}</text><rect x="240" y="${y + 4}" width="${w}" height="18" fill="#6b4f9e"/><text x="${248 + w}" y="${y + 17}" font-size="13">${it.value.toLocaleString('en')}${it.note ? ` ${esc(it.note)}` : ''}</text>`;
    })
    .join('');
  return `<h2>${esc(title)}</h2><svg role="img" aria-label="${esc(title)}" width="760" height="${items.length * rowH + 6}" xmlns="http://www.w3.org/2000/svg">${rows}</svg>`;
}

/** index.html: the latest release's counts, the conflicting tolls, and every release with its manifest. */
export function landingPage(catalog: Catalog, tolls: ReadonlyArray<TollBar>, title: string): string {
  const latest = catalog.versions[0]!;
  const counts = Object.entries(latest.record_counts).map(([label, value]) => ({ label, value: value ?? 0 }));
  const tollItems = tolls.map((t) => ({ label: t.claimant, value: t.value, note: `(${t.qualifier.replace('_', ' ')})` }));
  const releases = catalog.versions
    .map((v) => `<li><a href="${esc(v.manifest)}">${esc(v.version)}</a> — ${Object.entries(v.record_counts).map(([k, n]) => `${esc(k)} ${n}`).join(', ')}</li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:820px;margin:2rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2rem}</style></head>
<body><h1>${esc(title)}</h1>
<p>Latest release <strong>${esc(latest.version)}</strong> (created ${esc(latest.created)}): <a href="${esc(catalog.latest_manifest)}">manifest</a>, <a href="catalog.json">catalog</a>, <a href="athena/tables.sql">Athena tables</a>.</p>
<p>Query it with DuckDB: <code>SELECT * FROM read_parquet('latest/tables/claims/*.parquet')</code> (prefix the bucket URL).</p>
${bars(counts, 'Records in the latest release')}
${bars(tollItems, 'Published death tolls, by claimant (each claim as published, never merged)')}
<h2>Releases</h2><ul>${releases}</ul>
</body></html>
`;
}
