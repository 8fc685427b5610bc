// `rights-ledger query "SQL"` → SQL over a release with the DuckDB inside the project (RUN.md): nothing else to install.
import { access, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { sha256Hex } from '../pipeline/canonical.ts';
import { fileFacts } from '../pipeline/publish/write-release.ts';
import { Catalog, Manifest } from '../schemas/release.ts';
import { download, DownloadError } from './download.ts';

export const QUERY_USAGE =
  'usage: rights-ledger query [--from BASE_URL | --dir DIR] [--version V|latest] [--format table|csv|json] "SQL"';

/** The public bucket of `npm start` (RUN.md): where `query` looks when neither --from nor --dir is given. */
export const LOCAL_PUBLIC_URL = 'http://localhost:4569/rights-ledger-public';

export type QueryFormat = 'table' | 'csv' | 'json';

export interface QueryOptions {
  sql: string;
  /** Public base URL of the bucket (where catalog.json lives). */
  from?: string;
  /** A release folder that `download` wrote (holds manifest.json). */
  dir?: string;
  version?: string;
  /** Where downloaded releases are kept (default: the user's cache directory). */
  cacheDir?: string;
  log?: (line: string) => void;
  fetchImpl?: typeof fetch;
}

export interface QueryResult {
  version: string;
  /** The release folder the views read (in the cache, or --dir). */
  folder: string;
  columns: string[];
  rows: unknown[][];
}

/** An expected failure (no such release, a file that does not match its manifest, bad SQL): its message says what to do. */
export class QueryError extends Error {
  override name = 'QueryError';
}

/** `$XDG_CACHE_HOME/rights-ledger/releases`, or `~/.cache/…` (`%LOCALAPPDATA%` on Windows). */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || (process.platform === 'win32' && env.LOCALAPPDATA) || join(homedir(), '.cache');
  return join(base, 'rights-ledger', 'releases');
}

const exists = (path: string) => access(path).then(() => true, () => false);

async function fetchOk(doFetch: typeof fetch, url: string, what: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await doFetch(url);
  } catch (err) {
    throw new QueryError(`could not reach ${url} for ${what} (${(err as Error).message}): check --from, or that npm start is running`);
  }
  if (!res.ok) throw new QueryError(`${url} answered ${res.status} for ${what}: check --from and --version`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * The local folder of the release to query: `--dir` as given (its Parquet checked against its manifest),
 * or the release from `--from`, downloaded and verified once (hashes and chain, by `download`) into the
 * cache under `<version>-<first 16 hex of its manifest's SHA-256>`, so a republished id never reuses a stale copy.
 */
async function releaseFolder(opts: QueryOptions): Promise<{ folder: string; version: string }> {
  const log = opts.log ?? (() => undefined);
  if (opts.dir) {
    const folder = resolve(opts.dir);
    const manifestPath = join(folder, 'manifest.json');
    if (!(await exists(manifestPath))) throw new QueryError(`${folder} holds no manifest.json: give the folder that "rights-ledger download" wrote (…/<version>/)`);
    const manifest = Manifest.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
    for (const r of manifest.resources.filter((x) => x.format === 'parquet')) {
      const path = join(folder, r.path);
      if (!(await exists(path))) throw new QueryError(`${r.path} is missing from ${folder}: download the release again`);
      if (`sha256:${(await fileFacts(path)).sha256}` !== r.hash) throw new QueryError(`${r.path} in ${folder} does not match its manifest's hash: download the release again`);
    }
    return { folder, version: manifest.version };
  }
  const doFetch = opts.fetchImpl ?? fetch;
  const base = (opts.from ?? LOCAL_PUBLIC_URL).replace(/\/+$/, '');
  const catalogUrl = `${base}/catalog.json`;
  const catalog = Catalog.parse(JSON.parse(Buffer.from(await fetchOk(doFetch, catalogUrl, 'the catalog')).toString('utf8')));
  const version = !opts.version || opts.version === 'latest' ? catalog.latest : opts.version;
  const entry = catalog.versions.find((v) => v.version === version);
  if (!entry) throw new QueryError(`release ${version} is not in ${catalogUrl}: ask for one of ${catalog.versions.map((v) => v.version).join(', ') || 'none'}, or "latest"`);
  const manifestHash = sha256Hex(await fetchOk(doFetch, `${base}/${entry.manifest}`, `the manifest of ${version}`));
  const cache = opts.cacheDir ?? defaultCacheDir();
  const folder = join(cache, `${version}-${manifestHash.slice(0, 16)}`);
  // download() writes manifest.json last, and the folder is renamed into place only when complete.
  if (await exists(join(folder, 'manifest.json'))) {
    log(`release ${version}: from the cache (${folder})`);
    return { folder, version };
  }
  await mkdir(cache, { recursive: true });
  const tmp = await mkdtemp(join(cache, '.download-'));
  try {
    log(`release ${version}: downloading and verifying into ${folder} (once) …`);
    const got = await download({ from: base, version, format: 'parquet', out: tmp, progress: true, log, fetchImpl: opts.fetchImpl });
    const fetched = join(tmp, got.version);
    if (sha256Hex(await readFile(join(fetched, 'manifest.json'))) !== manifestHash) {
      throw new QueryError(`the manifest of ${version} changed while it was being downloaded: run the query again`);
    }
    await rm(folder, { recursive: true, force: true });
    await rename(fetched, folder);
  } catch (err) {
    if (err instanceof DownloadError) throw new QueryError(`download failed: ${err.message}`);
    throw err;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { folder, version };
}

const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;
const quoteLit = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Runs `sql` over a release: each table is a view by its name (`events`, `claims`, …) over its Parquet parts. */
export async function runQuery(opts: QueryOptions): Promise<QueryResult> {
  const { folder, version } = await releaseFolder(opts);
  const manifest = Manifest.parse(JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8')));
  const parts = new Map<string, string[]>();
  for (const r of manifest.resources) if (r.format === 'parquet' && r.table) parts.set(r.table, [...(parts.get(r.table) ?? []), join(folder, r.path)]);
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    for (const [table, files] of parts) {
      try {
        await db.run(`CREATE VIEW ${quoteIdent(table)} AS SELECT * FROM read_parquet([${files.map(quoteLit).join(', ')}])`);
      } catch (err) {
        throw new QueryError(`${(err as Error).message.split('\n')[0]}\n(the copy of release ${version} in ${folder} is damaged: delete that folder and run the query again)`);
      }
    }
    let reader;
    try {
      reader = await db.runAndReadAll(opts.sql);
    } catch (err) {
      throw new QueryError(`${(err as Error).message.split('\n')[0]}\n(the tables are views named ${[...parts.keys()].join(', ')}; DESCRIBE events shows a table's columns)`);
    }
    return { version, folder, columns: reader.columnNames(), rows: reader.getRowsJson() as unknown[][] };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

const cell = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** The result as text: an aligned table, CSV (RFC 4180) or JSON (an array of objects). */
export function formatResult(r: Pick<QueryResult, 'columns' | 'rows'>, format: QueryFormat): string {
  if (format === 'json') return JSON.stringify(r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i] ?? null]))), null, 2);
  if (format === 'csv') {
    const esc = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
    return [r.columns.map(esc).join(','), ...r.rows.map((row) => row.map((v) => esc(cell(v))).join(','))].join('\n');
  }
  const text = [r.columns, ...r.rows.map((row) => row.map(cell))];
  const widths = r.columns.map((_, i) => Math.min(60, Math.max(...text.map((row) => [...(row[i] ?? '')].length))));
  const fit = (s: string, w: number) => {
    const chars = [...s.replace(/[\r\n\t]/g, ' ')];
    return chars.length > w ? `${chars.slice(0, w - 1).join('')}…` : s.replace(/[\r\n\t]/g, ' ') + ' '.repeat(w - chars.length);
  };
  const line = (row: string[]) => row.map((v, i) => fit(v, widths[i]!)).join(' │ ').trimEnd();
  return [line(text[0]!), widths.map((w) => '─'.repeat(w)).join('─┼─'), ...text.slice(1).map(line), `(${r.rows.length} row${r.rows.length === 1 ? '' : 's'})`].join('\n');
}

export async function runQueryCommand(
  argv: string[],
  io: { out: (text: string) => void; err: (line: string) => void } = {
    out: (text) => void process.stdout.write(`${text}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
  },
  extra: Pick<QueryOptions, 'cacheDir' | 'fetchImpl'> = {},
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { from: { type: 'string' }, dir: { type: 'string' }, version: { type: 'string' }, format: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    io.err(`${(err as Error).message}\n${QUERY_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(QUERY_USAGE);
    return 0;
  }
  const problems: string[] = [];
  if (positionals.length !== 1) problems.push('give the SQL as one argument, in quotes: rights-ledger query "SELECT count(*) FROM events"');
  if (values.from && values.dir) problems.push('give --from or --dir, not both');
  const format = (values.format ?? 'table') as QueryFormat;
  if (!['table', 'csv', 'json'].includes(format)) problems.push(`--format must be table, csv or json, not "${values.format}"`);
  if (values.version !== undefined && values.version !== 'latest' && !/^\d{8}T\d{6}Z$/.test(values.version)) problems.push(`--version must be latest or a release id like 20260118T120000Z, not "${values.version}"`);
  if (problems.length > 0) {
    io.err(`${problems.join('\n')}\n${QUERY_USAGE}`);
    return 2;
  }
  try {
    const r = await runQuery({ sql: positionals[0]!, from: values.from, dir: values.dir, version: values.version, log: io.err, ...extra });
    io.out(formatResult(r, format));
    return 0;
  } catch (err) {
    if (err instanceof QueryError) {
      io.err(`query failed: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
