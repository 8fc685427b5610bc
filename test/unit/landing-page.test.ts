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
    const order = [...html.matchAll(/<th scope="row">([^<]*)/g)].map((m) => m[1]);
    expect(order.slice(-2)).toEqual(['Broadcaster (2025-12-28 – 2026-01-13)', 'Official (2025-12-28 – 2026-01-13)']);
    expect(html).toContain('12,000 <small>at least</small>');
    expect(html).not.toContain('14,000');
  });

  it('links every release to its manifest', () => {
    expect(landingPage(catalog, [], 'T')).toContain('<a href="releases/20260118T120000Z/manifest.json">20260118T120000Z</a>');
  });
});
