// `rights-ledger download` → fetch a release over plain HTTP(S), verify every byte and the manifest chain, write a Data Package.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import type { z } from 'zod';
import { Catalog, Manifest, type ManifestResource } from '../schemas/release.ts';

/** An expected failure of a download (HTTP error, mismatch, broken chain): its message says what to do. */
export class DownloadError extends Error {
  override name = 'DownloadError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface DownloadOptions {
  /** Public base URL of the bucket (where catalog.json lives). */
  from: string;
  /** A release id, or 'latest' (the default). */
  version?: string;
  /** Only one format of the tables; both by default. */
  format?: 'parquet' | 'json';
  /** The release is written to `${out}/${version}/`. */
  out: string;
  /** A progress bar on stderr when it is a TTY; plain lines otherwise. */
  progress?: boolean;
  /** Where plain progress lines go (stderr by default). */
  log?: (line: string) => void;
  fetchImpl?: typeof fetch;
}

export interface DownloadResult {
  version: string;
  /** Files written into the release folder, manifest.json and SHA256SUMS included. */
  files: number;
  bytes: number;
  /** The first release, where the verified manifest chain ends. */
  firstVersion: string;
}

const FORMAT_OF = { parquet: 'parquet', json: 'ndjson' } as const;
const SAFE_PATH = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;
const SCHEMA_FILE = /^schema\/[A-Za-z0-9_-][A-Za-z0-9._-]*\.schema\.json$/;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const short = (hex: string) => hex.slice(0, 12);

/**
 * Downloads one release into `${out}/${version}/` as a self-contained Data Package. Verifies the chain of
 * `previous_manifest_sha256` from the newest release back to the first (so an older release that was
 * rewritten is caught whichever version is asked for), then streams every file to `*.part`, checks its
 * size and SHA-256 against the manifest and SHA256SUMS, and only then renames it. manifest.json and
 * SHA256SUMS are written last, so a folder that has them is complete.
 * @throws DownloadError on any HTTP error, mismatch or broken chain
 */
export async function download(opts: DownloadOptions): Promise<DownloadResult> {
  const doFetch = opts.fetchImpl ?? fetch;
  const log = opts.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const base = opts.from.replace(/\/+$/, '');
  const wanted = opts.version ?? 'latest';

  const catalogUrl = `${base}/catalog.json`;
  const catalog = parseWith(Catalog, parseJson(await fetchBytes(doFetch, catalogUrl, 'the catalog'), catalogUrl), catalogUrl, 'catalog');
  const version = wanted === 'latest' ? catalog.latest : wanted;
  if (!catalog.versions.some((v) => v.version === version)) {
    const available = catalog.versions.map((v) => v.version).join(', ') || 'none';
    throw new DownloadError('unknown_version', `release ${version} is not in ${catalogUrl}: ask for one of ${available}, or "latest"`);
  }
  const manifestKey = (v: string) => (v === catalog.latest ? catalog.latest_manifest : catalog.versions.find((e) => e.version === v)?.manifest) ?? `releases/${v}/manifest.json`;

  // The chain, newest first: each manifest's bytes must hash to what the next newer one recorded.
  const chain = await verifyChain(doFetch, base, catalog.latest, manifestKey);
  const chosen = chain.find((m) => m.manifest.version === version);
  if (!chosen) {
    throw new DownloadError('not_in_chain', `release ${version} is listed in the catalog but not in the manifest chain of ${catalog.latest}: the catalog is inconsistent, report it to the publisher`);
  }
  const firstVersion = chain[chain.length - 1]!.manifest.version;
  log(`chain verified: ${chain.length} release(s), ${catalog.latest} back to ${firstVersion}`);

  const { manifest, bytes: manifestBytes, url: manifestUrl } = chosen;
  const releaseUrl = manifestUrl.slice(0, manifestUrl.lastIndexOf('/'));
  const sumsUrl = `${releaseUrl}/SHA256SUMS`;
  const sumsBytes = await fetchBytes(doFetch, sumsUrl, `SHA256SUMS of release ${version}`);
  const sums = parseSums(Buffer.from(sumsBytes).toString('utf8'), sumsUrl);
  if (sums.get('manifest.json') !== sha256(manifestBytes)) {
    throw new DownloadError('sums_mismatch', `manifest.json of release ${version} does not match its SHA256SUMS: the published release was altered or corrupted, do not use it and report it to the publisher`);
  }

  // What to fetch: the resources of the chosen format(s), then the record schemas.
  const formats = opts.format ? [FORMAT_OF[opts.format]] : Object.values(FORMAT_OF);
  const resources = manifest.resources.filter((r) => (formats as string[]).includes(r.format));
  const files: Array<{ path: string; bytes?: number; sha256: string; resource?: ManifestResource }> = [];
  for (const r of resources) {
    const expected = r.hash.slice('sha256:'.length);
    if (sums.get(r.path) !== expected) {
      throw new DownloadError('sums_mismatch', `${r.path} of release ${version} has a different hash in SHA256SUMS than in manifest.json: the published release was altered or corrupted, do not use it and report it to the publisher`);
    }
    files.push({ path: r.path, bytes: r.bytes, sha256: expected, resource: r });
  }
  for (const [path, hash] of sums) if (SCHEMA_FILE.test(path)) files.push({ path, sha256: hash });
  for (const f of files) checkPath(f.path, version);

  const dest = resolve(opts.out, version);
  try {
    await mkdir(dest, { recursive: true });
  } catch (err) {
    throw new DownloadError('cannot_write', `cannot create ${dest} (${(err as Error).message}): choose another --out directory`, { cause: err });
  }

  const known = files.reduce((n, f) => n + (f.bytes ?? 0), 0) + manifestBytes.byteLength + sumsBytes.byteLength;
  log(`release ${version}: ${files.length + 2} files, ${mb(known)} MB${opts.format ? ` (${opts.format} only)` : ''}, into ${dest}`);
  const bar = opts.progress && process.stderr.isTTY ? new cliProgress.SingleBar({ stream: process.stderr, format: '{bar} {percentage}% | {done}/{all} MB | {file}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic) : undefined;
  let total = known;
  let done = 0;
  bar?.start(total, 0, { done: mb(0), all: mb(total), file: '' });
  let written = 0;
  try {
    for (const f of files) {
      const url = `${releaseUrl}/${f.path}`;
      const size = await streamToFile(doFetch, url, join(dest, ...f.path.split('/')), {
        version,
        path: f.path,
        bytes: f.bytes,
        sha256: f.sha256,
        onLength: (n) => {
          if (f.bytes === undefined) bar?.setTotal((total += n));
        },
        onChunk: (n) => {
          done += n;
          bar?.update(done, { done: mb(done), all: mb(total), file: f.path });
        },
      });
      written += size;
      if (!bar) log(`${f.path}  ${size} bytes  sha256 ok`);
    }
    // Last: the files that make the folder a (complete) Data Package.
    await writeVerified(join(dest, 'SHA256SUMS'), sumsBytes);
    await writeVerified(join(dest, 'manifest.json'), manifestBytes);
    done += sumsBytes.byteLength + manifestBytes.byteLength;
    written += sumsBytes.byteLength + manifestBytes.byteLength;
    bar?.update(done, { done: mb(done), all: mb(total), file: 'manifest.json' });
  } finally {
    bar?.stop();
  }
  return { version, files: files.length + 2, bytes: written, firstVersion };
}

interface ChainLink {
  manifest: Manifest;
  bytes: Uint8Array;
  url: string;
}

/** Follows previous_version from `latest` to the first release, checking every link's SHA-256. */
async function verifyChain(doFetch: typeof fetch, base: string, latest: string, manifestKey: (v: string) => string): Promise<ChainLink[]> {
  const chain: ChainLink[] = [];
  let expected: { version: string; sha256: string | null; by?: string } = { version: latest, sha256: null };
  for (;;) {
    const url = `${base}/${manifestKey(expected.version)}`;
    const bytes = await fetchBytes(doFetch, url, `the manifest of release ${expected.version}`);
    const newer = expected.by;
    if (newer !== undefined && sha256(bytes) !== expected.sha256) {
      throw new DownloadError('chain_broken', `the manifest chain is broken between releases ${expected.version} and ${newer} (${expected.version}'s manifest.json no longer has the SHA-256 that ${newer} recorded): a past release was rewritten, do not trust this bucket and report it to the publisher`);
    }
    const manifest = parseWith(Manifest, parseJson(bytes, url), url, 'manifest');
    if (manifest.version !== expected.version) {
      throw new DownloadError('chain_broken', `${url} describes release ${manifest.version}, not ${expected.version}: the bucket is inconsistent, report it to the publisher`);
    }
    chain.push({ manifest, bytes, url });
    const prev = manifest.previous_version;
    if (prev === null) {
      if (manifest.previous_manifest_sha256 !== null) {
        throw new DownloadError('chain_broken', `release ${manifest.version} records a previous manifest hash but no previous version: the manifest is malformed, report it to the publisher`);
      }
      return chain;
    }
    if (manifest.previous_manifest_sha256 === null || prev >= manifest.version) {
      throw new DownloadError('chain_broken', `the manifest chain is broken between releases ${prev} and ${manifest.version} (${manifest.version} does not record an earlier release's hash): do not trust this bucket and report it to the publisher`);
    }
    expected = { version: prev, sha256: manifest.previous_manifest_sha256, by: manifest.version };
  }
}

async function get(doFetch: typeof fetch, url: string, what: string): Promise<Response> {
  let res: Response;
  try {
    // identity: the bytes exactly as stored, never decoded on the way, so their hashes can be checked.
    res = await doFetch(url, { headers: { 'accept-encoding': 'identity' } });
  } catch (err) {
    const reason = (err as { cause?: { code?: string; message?: string } }).cause?.code ?? (err as Error).message;
    throw new DownloadError('unreachable', `could not reach ${url} (${reason}): check --from and your network, then try again`, { cause: err });
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    const hint = res.status === 404 || res.status === 403 ? 'check that --from is the public base URL of a rights-ledger bucket (where catalog.json lives)' : 'try again later';
    throw new DownloadError('http_error', `${what} could not be fetched from ${url} (HTTP ${res.status}): ${hint}`);
  }
  return res;
}

async function fetchBytes(doFetch: typeof fetch, url: string, what: string): Promise<Uint8Array> {
  const res = await get(doFetch, url, what);
  try {
    return new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    throw new DownloadError('interrupted', `${what} was cut off while downloading from ${url}: try again`, { cause: err });
  }
}

function parseJson(bytes: Uint8Array, url: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new DownloadError('bad_json', `${url} is not valid JSON: check that --from is the public base URL of a rights-ledger bucket`, { cause: err });
  }
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, url: string, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue ? ` (/${issue.path.map(String).join('/')}: ${issue.message})` : '';
  throw new DownloadError(`bad_${what}`, `${url} is not a valid rights-ledger ${what}${where}: check --from, or report it to the publisher`);
}

/** `sha256sum` format: `<64 hex><space><space or *><path>` per line. */
function parseSums(text: string, url: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new DownloadError('bad_sums', `${url} is not in sha256sum format: the release is malformed, report it to the publisher`);
    sums.set(m[2]!, m[1]!);
  }
  return sums;
}

/** Paths come from the network: only plain relative paths, so nothing is written outside the release folder. */
function checkPath(path: string, version: string): void {
  if (!SAFE_PATH.test(path) || path.split('/').some((s) => s === '.' || s === '..') || path === 'manifest.json' || path === 'SHA256SUMS') {
    throw new DownloadError('unsafe_path', `release ${version} lists the file path "${path}", which is not a plain relative path: refusing to write it, report it to the publisher`);
  }
}

async function writeVerified(dest: string, bytes: Uint8Array): Promise<void> {
  const part = `${dest}.part`;
  try {
    await writeFile(part, bytes);
    await rename(part, dest);
  } catch (err) {
    await rm(part, { force: true });
    throw new DownloadError('cannot_write', `cannot write ${dest} (${(err as Error).message}): check the --out directory and free space, then try again`, { cause: err });
  }
}

/**
 * Streams one file to `${dest}.part`, hashing and counting on the way; renames it to `dest` only when
 * its size and SHA-256 are the expected ones, else removes it. Returns its size.
 */
async function streamToFile(
  doFetch: typeof fetch,
  url: string,
  dest: string,
  expect: { version: string; path: string; bytes?: number; sha256: string; onLength: (n: number) => void; onChunk: (n: number) => void },
): Promise<number> {
  const res = await get(doFetch, url, `${expect.path} of release ${expect.version}`);
  if (!res.body) throw new DownloadError('http_error', `${url} answered with no body: try again later`);
  const length = Number(res.headers.get('content-length'));
  if (Number.isFinite(length) && length > 0) expect.onLength(length);
  const altered = `${expect.path} of release ${expect.version} does not match its manifest`;
  const advice = 'the published copy was altered or corrupted, do not use it and report it to the publisher';
  const part = `${dest}.part`;
  const hash = createHash('sha256');
  let size = 0;
  try {
    await mkdir(dirname(dest), { recursive: true });
    await pipeline(
      Readable.fromWeb(res.body as unknown as NodeReadableStream<Uint8Array>),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          size += chunk.length;
          if (expect.bytes !== undefined && size > expect.bytes) {
            throw new DownloadError('size_mismatch', `${altered} (more than the ${expect.bytes} bytes it lists): ${advice}`);
          }
          hash.update(chunk);
          expect.onChunk(chunk.length);
          yield chunk;
        }
      },
      createWriteStream(part),
    );
    if (expect.bytes !== undefined && size !== expect.bytes) {
      throw new DownloadError('size_mismatch', `${altered} (${size} bytes, ${expect.bytes} listed): ${advice}`);
    }
    const actual = hash.digest('hex');
    if (actual !== expect.sha256) {
      throw new DownloadError('hash_mismatch', `${altered} (sha256 ${short(actual)}…, ${short(expect.sha256)}… listed): ${advice}`);
    }
    await rename(part, dest);
    return size;
  } catch (err) {
    await rm(part, { force: true });
    if (err instanceof DownloadError) throw err;
    const code = (err as { code?: string }).code;
    if (code && /^E[A-Z]+$/.test(code) && code !== 'ECONNRESET') {
      throw new DownloadError('cannot_write', `cannot write ${dest} (${(err as Error).message}): check the --out directory and free space, then try again`, { cause: err });
    }
    throw new DownloadError('interrupted', `${expect.path} of release ${expect.version} was cut off while downloading (${(err as Error).message}): try again`, { cause: err });
  }
}

const mb = (bytes: number) => (bytes / 1_000_000).toFixed(bytes < 10_000_000 ? 2 : 1);

const USAGE = 'usage: rights-ledger download [--version V|latest] [--format parquet|json] --from BASE_URL --out DIR';

/**
 * `download` on the command line: parses argv (without the command name), downloads, prints a summary.
 * @returns 0 on success, 1 when the download failed (the reason on stderr), 2 on a usage error
 */
export async function runDownloadCommand(
  argv: string[],
  io: { out: (line: string) => void; err: (line: string) => void } = {
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
  },
): Promise<number> {
  let values: { version?: string; format?: string; from?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { version: { type: 'string' }, format: { type: 'string' }, from: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const problems: string[] = [];
  if (!values.from) problems.push('--from BASE_URL is required (the public base URL of the bucket, where catalog.json lives)');
  if (!values.out) problems.push('--out DIR is required (the release is written to DIR/<version>/)');
  if (values.format !== undefined && values.format !== 'parquet' && values.format !== 'json') problems.push(`--format must be parquet or json, not "${values.format}"`);
  if (values.version !== undefined && values.version !== 'latest' && !/^\d{8}T\d{6}Z$/.test(values.version)) problems.push(`--version must be latest or a release id like 20260118T120000Z, not "${values.version}"`);
  if (problems.length > 0) {
    io.err(`${problems.join('\n')}\n${USAGE}`);
    return 2;
  }
  try {
    const r = await download({
      from: values.from!,
      out: values.out!,
      version: values.version ?? 'latest',
      format: values.format as 'parquet' | 'json' | undefined,
      progress: true,
      log: io.err,
    });
    io.out(`release ${r.version}: ${r.files} files, ${mb(r.bytes)} MB in ${resolve(values.out!, r.version)}${sep}`);
    io.out(`all hashes verified, chain verified back to ${r.firstVersion}`);
    return 0;
  } catch (err) {
    if (err instanceof DownloadError) {
      io.err(`download failed: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
