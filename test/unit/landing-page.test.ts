import { describe, expect, it } from 'vitest';
import { landingPage } from '../../pipeline/landing-page.ts';

const catalog = {
  name: 'rights-ledger',
  latest: '20260118T120000Z',
  latest_manifest: 'releases/20260118T120000Z/manifest.json',
  versions: [{ version: '20260118T120000Z', created: '2026-01-18T12:00:03Z', manifest: 'releases/20260118T120000Z/manifest.json', record_counts: { sources: 5, claims: 3 } }],
};

describe('landingPage', () => {
  it('escapes submitted text, so a claimant cannot inject markup into the public page', () => {
    const html = landingPage(catalog, [{ claimant: '<script>alert(1)</script> & "x"', value: 5, qualifier: 'exact', period: 'from 2026-01-01' }], 'T');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;');
  });

  it('lists tolls largest first, each with its claimant, period and qualifier, never summed', () => {
    const html = landingPage(
      catalog,
      [
        { claimant: 'Official', value: 2000, qualifier: 'at_least', period: '2025-12-28 – 2026-01-13' },
        { claimant: 'Broadcaster', value: 12000, qualifier: 'at_least', period: '2025-12-28 – 2026-01-13' },
      ],
      'T',
    );
    const order = [...html.matchAll(/<th scope="row">(.*?)<\/th>/g)].map((m) => m[1]!.replace(/<\/?bdi>/g, ''));
    expect(order.slice(-2)).toEqual(['Broadcaster (2025-12-28 – 2026-01-13)', 'Official (2025-12-28 – 2026-01-13)']);
    expect(html).toContain('12,000 <small>at least</small>');
    expect(html).not.toContain('14,000');
  });

  it('isolates every record string in <bdi>, so a bidi override in a claimant cannot reorder the page; the characters stay', () => {
    const RLO = '\u202e';
    const RLI = '\u2067';
    const html = landingPage(
      catalog,
      [
        { claimant: `Official${RLO} 000,21 :said NGO`, value: 2000, qualifier: 'at_least', period: '2025-12-28 – 2026-01-13' },
        { claimant: `${RLI}NGO`, value: 6000, qualifier: 'approximately', period: `from 2026-01-01` },
      ],
      'T',
    );
    const labels = [...html.matchAll(/<th scope="row">(.*?)<\/th>/g)].map((m) => m[1]!);
    const tollLabels = labels.filter((l) => l.includes('NGO'));
    expect(tollLabels).toEqual([
      `<bdi>${RLI}NGO</bdi> (<bdi>from 2026-01-01</bdi>)`,
      `<bdi>Official${RLO} 000,21 :said NGO</bdi> (<bdi>2025-12-28 – 2026-01-13</bdi>)`,
    ]);
    // No bidi control is anywhere outside a <bdi> … </bdi>.
    const outside = html.replace(/<bdi>[^<]*<\/bdi>/g, '');
    expect(outside).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/);
  });

  it('links every release to its manifest', () => {
    expect(landingPage(catalog, [], 'T')).toContain('<a href="releases/20260118T120000Z/manifest.json">20260118T120000Z</a>');
  });
});
