import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeLineSeparators, gzipFileInMembers } from '../../pipeline/gzip-members.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gz-members-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Deterministic text with some repetition, like NDJSON. */
const text = (n: number, seed: number) => Array.from({ length: n }, (_, i) => `{"id":"rec-${seed}-${i}","note":"${'x'.repeat((i * 7 + seed) % 50)}"}\n`).join('');

describe('gzipFileInMembers', () => {
  it('writes one gzip member per slice, in order: the file gunzips to the input byte for byte', async () => {
    const input = Buffer.from(text(400, 1));
    await writeFile(join(dir, 'a.ndjson'), input);
    const bytes = await gzipFileInMembers(join(dir, 'a.ndjson'), join(dir, 'a.ndjson.gz'), { memberBytes: 1000, inFlight: 3, level: 6 });
    const out = await readFile(join(dir, 'a.ndjson.gz'));
    expect(bytes).toBe(out.length);
    expect(gunzipSync(out).equals(input)).toBe(true);
    // Exactly the members a slice-by-slice gzip makes (zlib is deterministic): so several members, in order.
    const expected = [];
    for (let at = 0; at < input.length; at += 1000) expected.push(gzipSync(input.subarray(at, at + 1000), { level: 6 }));
    expect(expected.length).toBeGreaterThan(10);
    expect(out.equals(Buffer.concat(expected))).toBe(true);
  });

  it('appends to an existing gzip file: the result reads as both inputs one after the other', async () => {
    const first = Buffer.from(text(50, 2));
    const second = Buffer.from(text(70, 3));
    await writeFile(join(dir, 'b.gz'), gzipSync(first));
    await writeFile(join(dir, 'b2.ndjson'), second);
    await gzipFileInMembers(join(dir, 'b2.ndjson'), join(dir, 'b.gz'), { append: true, memberBytes: 512 });
    expect(gunzipSync(await readFile(join(dir, 'b.gz'))).equals(Buffer.concat([first, second]))).toBe(true);
  });

  it('an empty input gives a valid, empty gzip file (and appends nothing)', async () => {
    await writeFile(join(dir, 'empty.ndjson'), '');
    await gzipFileInMembers(join(dir, 'empty.ndjson'), join(dir, 'empty.gz'));
    expect(gunzipSync(await readFile(join(dir, 'empty.gz'))).length).toBe(0);
    await writeFile(join(dir, 'c.gz'), gzipSync('abc'));
    await gzipFileInMembers(join(dir, 'empty.ndjson'), join(dir, 'c.gz'), { append: true });
    expect(gunzipSync(await readFile(join(dir, 'c.gz'))).toString()).toBe('abc');
  });

  it('a missing input rejects (the caller sees the failure)', async () => {
    await expect(gzipFileInMembers(join(dir, 'missing.ndjson'), join(dir, 'x.gz'))).rejects.toThrow(/ENOENT/);
  });

  it('escapes U+2028/U+2029 on request, also where a slice boundary falls inside a multi-byte character', async () => {
    const lines = Array.from({ length: 60 }, (_, i) => JSON.stringify({ id: `r${i}`, text: `خط\u2028${'é'.repeat(i % 5)}\u2029𝄞 ${i}` })).join('\n') + '\n';
    await writeFile(join(dir, 'ls.ndjson'), lines);
    // Odd slice sizes put boundaries inside 2-, 3- and 4-byte characters.
    for (const memberBytes of [5, 7, 11, 64]) {
      await gzipFileInMembers(join(dir, 'ls.ndjson'), join(dir, 'ls.gz'), { memberBytes, escapeLineSeparators: true });
      const out = gunzipSync(await readFile(join(dir, 'ls.gz'))).toString('utf8');
      expect(out, `slices of ${memberBytes}`).not.toMatch(/[\u2028\u2029\ufffd]/);
      expect(out.split('\n').filter((l) => l).map((l) => JSON.parse(l) as unknown)).toEqual(lines.split('\n').filter((l) => l).map((l) => JSON.parse(l) as unknown));
    }
    expect(escapeLineSeparators(Buffer.from('plain')).toString()).toBe('plain');
  });
});
