// e2e: `download` against releases published by the real handlers into the real local S3 server.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DownloadError, download, runDownloadCommand } from '../../cli/download.ts';
import { Manifest } from '../../schemas/release.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
let first: string;
let second: string;
const dirs: string[] = [];

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const tempOut = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ledger-download-'));
  dirs.push(dir);
  return dir;
};
const quiet = { log: () => undefined };
const exists = (path: string) => stat(path).then(() => true, () => false);

/** Every file under `dir`, as paths relative to it with '/' separators. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1).split('\\').join('/'))
    .sort();
}

async function publish(): Promise<string> {
  const p = await call(stack, 'POST', '/publish', { key: stack.editorKey });
  expect(p.status, p.text).toBe(200);
  expect(p.body.published).toBe(true);
  return p.body.version as string;
}

async function remoteManifest(version: string): Promise<{ bytes: Uint8Array; manifest: Manifest }> {
  const bytes = (await stack.ctx.objects.get(`releases/${version}/manifest.json`))!;
  return { bytes, manifest: Manifest.parse(JSON.parse(Buffer.from(bytes).toString('utf8'))) };
}

/** Overwrites an object of a published release (as an attacker or a faulty job would), restoring it afterwards. */
async function tampered<T>(key: string, change: (original: Uint8Array) => Uint8Array, act: () => Promise<T>): Promise<T> {
  const original = (await stack.ctx.objects.get(key))!;
  expect(original, key).toBeDefined();
  await stack.ctx.objects.put(key, change(original), { contentType: 'application/octet-stream' });
  try {
    return await act();
  } finally {
    await stack.ctx.objects.put(key, original, { contentType: 'application/octet-stream' });
  }
}

/** A capture of runDownloadCommand's output. */
const capture = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => void out.push(l), err: (l: string) => void err.push(l) } };
};

beforeAll(async () => {
  stack = await startTestStack();
  const body = readFileSync('examples/records.ndjson');
  const r = await call(stack, 'POST', '/records', { key: stack.editorKey, body, contentType: 'application/x-ndjson' });
  expect(r.status, r.text).toBeLessThan(300);
  expect(r.body.results.filter((x: { status: string }) => x.status === 'rejected')).toEqual([]);
  first = await publish();
  const extra = { id: 'src-download-test-extra', kind: 'source', title: 'An extra report for the second release', publisher: 'Iran Human Rights', publisher_type: 'ngo' };
  const r2 = await call(stack, 'POST', '/records', { key: stack.editorKey, json: { records: [extra] } });
  expect(r2.body.results.filter((x: { status: string }) => x.status === 'rejected')).toEqual([]);
  second = await publish();
  expect(second > first).toBe(true);
});

afterAll(async () => {
  await stack?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('download', () => {
  it('downloads the latest release, every file verified, as a self-contained Data Package', async () => {
    const out = await tempOut();
    const lines: string[] = [];

    const r = await download({ from: stack.publicBaseUrl, out, log: (l) => void lines.push(l) });

    const { bytes: manifestBytes, manifest } = await remoteManifest(second);
    const dir = join(out, second);
    const sums = (await readFile(join(dir, 'SHA256SUMS'), 'utf8')).trim().split('\n').map((l) => l.split('  ') as [string, string]);
    const schemas = sums.filter(([, p]) => p.startsWith('schema/'));
    expect(schemas.length).toBeGreaterThan(0);
    const expectedFiles = [...manifest.resources.map((res) => res.path), ...schemas.map(([, p]) => p), 'manifest.json', 'SHA256SUMS'].sort();
    expect(await listFiles(dir)).toEqual(expectedFiles);
    for (const res of manifest.resources) {
      const bytes = await readFile(join(dir, res.path));
      expect(bytes.byteLength, res.path).toBe(res.bytes);
      expect(`sha256:${sha256(bytes)}`, res.path).toBe(res.hash);
    }
    // `sha256sum -c SHA256SUMS` would pass: every file it lists is there, byte for byte.
    for (const [hash, path] of sums) expect(sha256(await readFile(join(dir, path))), path).toBe(hash);
    expect(sha256(await readFile(join(dir, 'manifest.json')))).toBe(sha256(manifestBytes));
    const total = (await Promise.all(expectedFiles.map((p) => stat(join(dir, p))))).reduce((n, s) => n + s.size, 0);
    expect(r).toEqual({ version: second, files: expectedFiles.length, bytes: total, firstVersion: first });
    expect(lines.join('\n')).toContain(`back to ${first}`);
  });

  it('downloads an earlier release by its id', async () => {
    const out = await tempOut();

    const r = await download({ from: `${stack.publicBaseUrl}/`, version: first, out, ...quiet });

    expect(r.version).toBe(first);
    expect(r.firstVersion).toBe(first);
    const { bytes } = await remoteManifest(first);
    const local = await readFile(join(out, first, 'manifest.json'));
    expect(sha256(local)).toBe(sha256(bytes));
    expect(Manifest.parse(JSON.parse(local.toString('utf8'))).previous_version).toBeNull();
    expect(await exists(join(out, second))).toBe(false);
  });

  it('--format json downloads only the NDJSON resources, with schemas, manifest and SHA256SUMS', async () => {
    const out = await tempOut();

    const r = await download({ from: stack.publicBaseUrl, version: 'latest', format: 'json', out, ...quiet });

    const files = await listFiles(join(out, second));
    expect(files.filter((p) => p.startsWith('tables/'))).toEqual([]);
    const { manifest } = await remoteManifest(second);
    const json = manifest.resources.filter((res) => res.format === 'ndjson').map((res) => res.path);
    expect(json.length).toBe(6);
    expect(files.filter((p) => p.startsWith('json/'))).toEqual([...json].sort());
    expect(files.filter((p) => !p.startsWith('json/') && !p.startsWith('schema/'))).toEqual(['SHA256SUMS', 'manifest.json']);
    expect(files.filter((p) => /^schema\/[a-z]+\.schema\.json$/.test(p)).length).toBe(4);
    expect(r.files).toBe(files.length);
  });

  it('an unknown version fails with a DownloadError naming the available ones', async () => {
    const out = await tempOut();

    const err = await download({ from: stack.publicBaseUrl, version: '20000101T000000Z', out, ...quiet }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).name).toBe('DownloadError');
    expect((err as Error).message).toContain(first);
    expect((err as Error).message).toContain(second);
    expect(await listFiles(out)).toEqual([]);
  });

  it('a base URL with no catalog fails with a DownloadError, not a stack trace', async () => {
    const out = await tempOut();

    const err = await download({ from: `${stack.publicBaseUrl}-missing`, out, ...quiet }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toMatch(/HTTP 404.*--from/);
  });

  it('a Parquet object overwritten in the bucket (same size, other bytes) fails the download and leaves no file for it', async () => {
    const out = await tempOut();
    const { manifest } = await remoteManifest(second);
    const target = manifest.resources.find((res) => res.format === 'parquet' && res.table === 'events')!;
    const flip = (b: Uint8Array) => {
      const copy = Uint8Array.from(b);
      copy[Math.floor(copy.length / 2)]! ^= 0xff;
      return copy;
    };

    const err = await tampered(`releases/${second}/${target.path}`, flip, () => download({ from: stack.publicBaseUrl, version: second, out, ...quiet }).catch((e: unknown) => e));

    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toContain(target.path);
    const files = await listFiles(join(out, second));
    expect(files).not.toContain(target.path);
    expect(files.filter((p) => p.endsWith('.part'))).toEqual([]);
    // The folder never looks like a complete Data Package.
    expect(files).not.toContain('manifest.json');
    expect(files).not.toContain('SHA256SUMS');
  });

  it('a Parquet object replaced with a longer one fails on its size', async () => {
    const out = await tempOut();
    const { manifest } = await remoteManifest(second);
    const target = manifest.resources.find((res) => res.format === 'parquet' && res.table === 'claims')!;

    const err = await tampered(`releases/${second}/${target.path}`, (b) => Buffer.concat([b, Buffer.from('extra')]), () => download({ from: stack.publicBaseUrl, out, ...quiet }).catch((e: unknown) => e));

    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toContain(target.path);
    expect(await exists(join(out, second, ...target.path.split('/')))).toBe(false);
    expect(await exists(join(out, second, `${target.path}.part`))).toBe(false);
  });

  it("a rewritten first release breaks the chain: downloading the latest fails, naming both releases", async () => {
    const out = await tempOut();
    const rewrite = (b: Uint8Array) => Buffer.from(Buffer.from(b).toString('utf8').replace(/"title": "[^"]*"/, '"title": "A rewritten history"'));

    const err = await tampered(`releases/${first}/manifest.json`, rewrite, () => download({ from: stack.publicBaseUrl, out, ...quiet }).catch((e: unknown) => e));

    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toMatch(/chain/);
    expect((err as Error).message).toContain(first);
    expect((err as Error).message).toContain(second);
    expect(await exists(join(out, second, 'manifest.json'))).toBe(false);
  });
});

describe('runDownloadCommand', () => {
  it('downloads and prints a summary, exit 0', async () => {
    const out = await tempOut();
    const c = capture();

    const code = await runDownloadCommand(['--from', stack.publicBaseUrl, '--out', out, '--format', 'parquet'], c.io);

    expect(code, c.err.join('\n')).toBe(0);
    const summary = c.out.join('\n');
    expect(summary).toContain(second);
    expect(summary).toMatch(/\d+ files, [\d.]+ MB/);
    expect(summary).toContain(`all hashes verified, chain verified back to ${first}`);
    expect((await listFiles(join(out, second))).some((p) => p.startsWith('json/'))).toBe(false);
  });

  it('without --from prints the usage, exit 2', async () => {
    const out = await tempOut();
    const c = capture();

    const code = await runDownloadCommand(['--out', out], c.io);

    expect(code).toBe(2);
    expect(c.err.join('\n')).toMatch(/--from.*\n.*usage: rights-ledger download/s);
  });

  it('an unknown option or a bad --format is a usage error, exit 2', async () => {
    const c = capture();

    expect(await runDownloadCommand(['--from', stack.publicBaseUrl, '--out', 'x', '--bogus'], c.io)).toBe(2);
    expect(await runDownloadCommand(['--from', stack.publicBaseUrl, '--out', 'x', '--format', 'csv'], c.io)).toBe(2);
    expect(c.err.join('\n')).toContain('usage:');
  });

  it('a tampered release prints the reason without a stack trace, exit 1', async () => {
    const out = await tempOut();
    const c = capture();
    const { manifest } = await remoteManifest(second);
    const target = manifest.resources.find((res) => res.format === 'ndjson')!;

    const code = await tampered(`releases/${second}/${target.path}`, (b) => b.subarray(1), () => runDownloadCommand(['--from', stack.publicBaseUrl, '--out', out, '--version', second], c.io));

    expect(code).toBe(1);
    const err = c.err.join('\n');
    expect(err).toContain(`download failed: ${target.path} of release ${second}`);
    expect(err).not.toMatch(/\n\s+at /);
    expect(c.out).toEqual([]);
  });
});
