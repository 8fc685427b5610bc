// The landing page in a real browser (issue 10): the example dataset and records with hostile text go in
// through the real handlers, two publishes write index.html to the local S3 server, and headless Chromium
// (Debian's, driven by playwright-core) loads it from there the way a reader would. Screenshots go to
// test-output/landing/.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { catalog, fetchObject, publishOk, sha256, submitOk, type Json } from '../support/release.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const SHOTS = 'test-output/landing';
const SCRIPT = '<script>window.__pwned = 1</script>';
const PERSIAN_DESCRIPTION = 'معترضان در میدان آزادی شعار دادند';
const PERSIAN_NAME = 'نام آزمایشی';

const hostile: Json[] = [
  { id: 'src-landing-hostile', kind: 'source', title: `Report ${SCRIPT}`, publisher: SCRIPT, publisher_type: 'ngo' },
  {
    id: 'evt-landing-hostile',
    kind: 'event',
    event_type: 'protest',
    date_start: '2026-01-18',
    location: { admin1: 'Tehran', place: `Square ${SCRIPT}`, latitude: 35.7, longitude: 51.34, geo_precision: 'exact' },
    description: `Protesters gathered. ${SCRIPT}`,
    description_fa: PERSIAN_DESCRIPTION,
    source_ids: ['src-landing-hostile'],
  },
  {
    id: 'clm-landing-hostile',
    kind: 'claim',
    metric: 'killed',
    value: { low: 3000 },
    qualifier: 'at_least',
    claimant: `Claimant ${SCRIPT}`,
    claimant_type: 'media',
    period_start: '2026-01-01',
    period_end: '2026-01-18',
    source_ids: ['src-landing-hostile'],
  },
  {
    id: 'per-landing-hostile',
    kind: 'person',
    name: `Name ${SCRIPT}`,
    name_fa: PERSIAN_NAME,
    name_disclosure: 'public_record',
    fate: 'killed',
    fate_date: '2026-01-18',
    event_ids: ['evt-landing-hostile'],
    source_ids: ['src-landing-hostile'],
  },
];

describe.skipIf(!haveChromium)(`the landing page in headless Chromium${haveChromium ? '' : ` (skipped: ${CHROMIUM} is absent; install Debian's chromium)`}`, () => {
  let stack: TestStack;
  let browser: Browser;
  let cat: Json;
  let manifest: Json;
  let page: Page;
  const requests: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack();
    // A loaded machine can keep DynamoDB Local silent past the API's timeout (503, retryable): the API
    // says a resent batch is safe, so it is resent a few times.
    const body = await readFile('examples/records.ndjson');
    let r = await call(stack, 'POST', '/records', { key: stack.editorKey, body, contentType: 'application/x-ndjson' });
    for (let i = 0; i < 3 && r.status === 503 && r.body?.code === 'store_unavailable'; i++) r = await call(stack, 'POST', '/records', { key: stack.editorKey, body, contentType: 'application/x-ndjson' });
    expect(r.body.rejected, r.text).toBe(0);
    await publishOk(stack);
    await submitOk(stack, stack.editorKey, hostile);
    const second = await publishOk(stack);
    expect(second.published).toBe(true);
    cat = (await catalog(stack)).value;
    manifest = JSON.parse((await fetchObject(stack.publicBaseUrl, cat.latest_manifest)).toString('utf8'));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    page.on('request', (req) => requests.push(req.url()));
    const res = await page.goto(`${stack.publicBaseUrl}/index.html`, { waitUntil: 'load' });
    expect(res?.status()).toBe(200);
    await mkdir(SHOTS, { recursive: true });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('shows the count of every table of the latest release, and the changes since the previous one', async () => {
    const rows = await page.$$eval('table.counts tbody tr', (trs) => trs.map((tr) => [tr.querySelector('th')!.textContent, tr.querySelector('td')!.textContent]));
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(Object.entries(cat.versions[0].record_counts).map(([k, n]) => [k, (n as number).toLocaleString('en-US')])));
    expect(rows.length).toBe(6);
    const text = await page.textContent('body');
    expect(text).toContain(`${manifest.changes.add} added, ${manifest.changes.modify} modified, ${manifest.changes.delete} deleted`);
    expect(manifest.changes.add).toBe(4);
  });

  it('draws the charts as SVG images, each with a title and a table of its numbers', async () => {
    const charts = await page.$$eval('figure.chart', (figs) =>
      figs.map((f) => ({ role: f.querySelector('svg')?.getAttribute('role'), title: f.querySelector('svg > title')?.textContent ?? '', caption: f.querySelector('figcaption')?.textContent ?? '', tableRows: f.querySelectorAll('details table tbody tr').length })),
    );
    expect(charts.length).toBeGreaterThanOrEqual(3);
    for (const c of charts) {
      expect(c.role).toBe('img');
      expect(c.title.length).toBeGreaterThan(0);
      expect(c.caption.length).toBeGreaterThan(0);
      expect(c.tableRows).toBeGreaterThan(0);
    }
    // Events per day: one path of stacked bars per type.
    expect(await page.locator('svg path.bar').count()).toBeGreaterThanOrEqual(8);
    // Map: one marker per table row, the outline drawn.
    const mapRows = charts.find((c) => c.title.startsWith('Map'))!.tableRows;
    expect(await page.locator('svg circle.pt').count()).toBe(mapRows);
    expect(await page.locator('svg path.outline').count()).toBe(1);
    // Tolls: the 2019 toll in its own chart, apart from the January 2026 ones; "at least" drawn open-ended.
    const tollCharts = await page.$$eval('.tolls figure', (figs) => figs.map((f) => f.querySelector('details table')!.textContent!));
    const jan = tollCharts.filter((t) => t.includes('Iran International'));
    expect(jan).toHaveLength(1);
    expect(jan[0]).not.toContain('2019-11');
    expect(tollCharts.some((t) => t.includes('2019-11-01 – 2019-11-30') && !t.includes('Iran International'))).toBe(true);
    expect(await page.locator('g.claim.q-at_least polygon.open').count()).toBeGreaterThan(0);
    expect(await page.locator('g.claim.q-at_least').first().textContent()).toContain('at least');
  });

  it('shows a <script> from a record as text, and runs none', async () => {
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    const text = (await page.textContent('body'))!;
    expect(text).toContain(`Protesters gathered. ${SCRIPT}`);
    expect(text).toContain(`Claimant ${SCRIPT}`);
    expect(text).toContain(`Name ${SCRIPT}`);
  });

  it('renders Persian text right to left', async () => {
    const fa = await page.$$eval('[lang="fa"][dir="rtl"]', (els) => els.map((e) => [e.textContent, (globalThis as unknown as { getComputedStyle(e: unknown): { direction: string } }).getComputedStyle(e).direction]));
    expect(fa).toContainEqual([PERSIAN_DESCRIPTION, 'rtl']);
    expect(fa).toContainEqual([PERSIAN_NAME, 'rtl']);
  });

  it('lists the latest releases with every file, its size and a SHA-256 that matches the file', async () => {
    const latest = cat.latest as string;
    const files = await page.$$eval(`ul.releases li:first-child table.files tbody tr.file`, (trs) =>
      trs.map((tr) => ({ href: tr.querySelector('a')!.getAttribute('href')!, bytes: Number(tr.querySelector('td.n')!.textContent!.replaceAll(',', '')), sha: tr.nextElementSibling!.querySelector('code')!.textContent! })),
    );
    const sums = (await fetchObject(stack.publicBaseUrl, `releases/${latest}/SHA256SUMS`)).toString('utf8').trim().split('\n');
    expect(files).toHaveLength(sums.length + 1);
    for (const f of files) {
      expect(f.href.startsWith(`releases/${latest}/`), f.href).toBe(true);
      const body = await fetchObject(stack.publicBaseUrl, f.href);
      expect(body.length, f.href).toBe(f.bytes);
      expect(sha256(body), f.href).toBe(f.sha);
    }
    // The previous release too (its manifest checked through the chain).
    expect(await page.locator('ul.releases > li').count()).toBe(2);
    expect(await page.locator('ul.releases > li:nth-child(2) table.files tbody tr.file').count()).toBeGreaterThan(10);
  });

  it('makes no request that leaves its origin, and fits a 390-px-wide phone screen', async () => {
    const origin = new URL(stack.publicBaseUrl).origin;
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((u) => !u.startsWith(`${origin}/`))).toEqual([]);
    expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${SHOTS}/phone-390.png`, fullPage: true });
    const wide = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await wide.goto(`${stack.publicBaseUrl}/index.html`);
    await wide.screenshot({ path: `${SHOTS}/desktop-1280.png`, fullPage: true });
    await wide.close();
  });
});

describe("the landing page's file tables follow the hash chain (no browser needed)", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  /** The releases on index.html, newest first, each with the number of files in its table (0: none). */
  const fileTables = async () => {
    const html = (await fetchObject(stack.publicBaseUrl, 'index.html')).toString('utf8');
    const list = html.slice(html.indexOf('<ul class="releases">'));
    return [...list.matchAll(/<li><strong>(\d{8}T\d{6}Z)<\/strong>([\s\S]*?)<\/li>/g)].map((m) => [m[1], (m[2]!.match(/<tr class="file">/g) ?? []).length] as const);
  };

  it('lists the files of the releases before the newest only while their manifest is the one the chain names', async () => {
    const versions: string[] = [];
    for (const id of ['src-chain-1', 'src-chain-2']) {
      await submitOk(stack, stack.editorKey, [{ id, kind: 'source', title: `T ${id}`, publisher: 'P', publisher_type: 'ngo' }]);
      versions.push((await publishOk(stack)).version);
    }
    expect(await fileTables()).toEqual([
      [versions[1], 18],
      [versions[0], 18],
    ]);
    // Someone rewrites the first release's manifest in the bucket: the next page lists none of its files.
    const key = `releases/${versions[0]}/manifest.json`;
    const forged = Buffer.from((await fetchObject(stack.publicBaseUrl, key)).toString('utf8').replace('"rows": 1', '"rows": 2'));
    await stack.ctx.objects.put(key, forged, { contentType: 'application/json' });
    await submitOk(stack, stack.editorKey, [{ id: 'src-chain-3', kind: 'source', title: 'T 3', publisher: 'P', publisher_type: 'ngo' }]);
    versions.push((await publishOk(stack)).version);
    expect(await fileTables()).toEqual([
      [versions[2], 18],
      [versions[1], 18],
      [versions[0], 0],
    ]);
  }, 120_000);
});
