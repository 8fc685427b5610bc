/**
 * One publish in a process of its own (child process → publishRelease), so that its peak RSS is the
 * publisher's alone: nothing the benchmark holds, and no heap left over from another publish. The
 * parent passes the table, bucket and endpoints as one JSON argument; the child prints progress on
 * stderr and, last on stdout, `BENCH_RESULT <json>`: the result, the time of publishRelease alone (not
 * the process start), its phases, and `process.resourceUsage().maxRSS` at the end.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBConnection } from '@duckdb/node-api';
import type { ReleaseBuilder } from '../pipeline/ports.ts';
import { publishRelease, type PublishResult } from '../pipeline/publish-release.ts';
import { createAdapters, forPublishing } from '../storage/adapters.ts';
import { DuckDbReleaseBuilder } from '../storage/duckdb-release-builder.ts';
import { dynamodbClientConfig, s3ClientConfig } from '../local/services.ts';
import { isMain, timedPort, type CallStats, type Endpoints, type Log } from './support.ts';

export interface ChildPublishInput extends Endpoints {
  tableName: string;
  bucketName: string;
  datasetName: string;
  publicBaseUrl: string;
  full: boolean;
  maxDropShare: number;
  /**
   * DuckDB settings for the build, instead of the adapters' defaults (as in production): to see what a
   * publish that fails with them would take. Undefined fields keep the builder's own defaults.
   */
  duckdb?: DuckDbSettings;
}

export interface DuckDbSettings {
  memoryLimit?: string;
  threads?: number;
}

/** `threads=1,memory_limit=2GB` → settings; throws on anything else. */
export function parseDuckDbSettings(text: string): DuckDbSettings {
  const out: DuckDbSettings = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [key, value] = part.split('=');
    if (key === 'threads' && /^\d+$/.test(value ?? '')) out.threads = Number(value);
    else if (key === 'memory_limit' && value) out.memoryLimit = value;
    else throw new Error(`"${part}" is not threads=N or memory_limit=SIZE`);
  }
  return out;
}

export const describeDuckDb = (d: DuckDbSettings) => [d.threads !== undefined ? `threads=${d.threads}` : '', d.memoryLimit ? `memory_limit=${d.memoryLimit}` : ''].filter(Boolean).join(', ');

export interface ChildPublish {
  /** Undefined when the publish threw: see `error`. */
  result?: PublishResult;
  error?: string;
  /** publishRelease alone, ms. */
  ms: number;
  /** Peak RSS of the child process over its whole life (bytes). */
  maxRss: number;
  /** RSS just before publishRelease started (modules loaded, clients made). */
  rssBefore: number;
  /** Named intervals of the publish, ms, in order. */
  phases: Array<[string, number]>;
  /** Calls and total latency per port method (latencies overlap under concurrency). */
  calls: Record<string, CallStats>;
  /** The DuckDB statements of the build, slowest first: what each began with, and its ms. */
  sql: Array<[string, number]>;
}

const RESULT = 'BENCH_RESULT ';
const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

/** Runs one publish in a child process (see the file's header); its progress lines go to `log`. */
export function publishInChild(input: ChildPublishInput, log: Log): Promise<ChildPublish> {
  return new Promise((resolvePublish, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), JSON.stringify(input)], {
      cwd: resolve(BENCH_DIR, '..'),
      env: { ...process.env, LEDGER_LOG_LEVEL: 'WARN' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let errors = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      errors = (errors + d.toString()).slice(-4000);
      const lines = stderr.split('\n');
      stderr = lines.pop()!;
      // Progress lines only (the SDK's Node version notice is not news).
      for (const l of lines) if (l.startsWith('+')) log(`  [publisher ${child.pid}] ${l}`);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT));
      if (code !== 0 || !line) reject(new Error(`the publish child exited with ${code}: ${errors}${stdout.slice(-2000)}`));
      else resolvePublish(JSON.parse(line.slice(RESULT.length)) as ChildPublish);
    });
  });
}

/** VmHWM of this process, bytes (Linux), or NaN. */
function vmHwm(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Times every statement the release builder sends to DuckDB, by wrapping the connection's methods
 * (the builder itself is not touched): the profile behind the build phase.
 */
function profileDuckDb(): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  const proto = DuckDBConnection.prototype as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  let depth = 0; // runAndReadAll calls run: count the outer call only
  for (const method of ['run', 'runAndReadAll']) {
    const original = proto[method]!;
    proto[method] = async function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      depth++;
      try {
        return await original.apply(this, args);
      } finally {
        if (--depth === 0) out.push([String(args[0]).replace(/\s+/g, ' ').slice(0, 140), performance.now() - t0]);
      }
    };
  }
  return out;
}

async function main(input: ChildPublishInput): Promise<ChildPublish> {
  const sql = profileDuckDb();
  // The publisher's clients (long timeouts), as every entry point that publishes uses them.
  const adapters = forPublishing(createAdapters({ tableName: input.tableName, bucketName: input.bucketName, dynamodb: dynamodbClientConfig(input.dynamodbEndpoint), s3: s3ClientConfig(input.s3Endpoint) }));
  const settings = input.duckdb;
  const openBuilder = settings ? (o: { tempDirectory: string }) => DuckDbReleaseBuilder.open({ tempDirectory: o.tempDirectory, ...settings }) : adapters.openReleaseBuilder;
  const stats = new Map<string, CallStats>();
  const marks: Array<{ at: number; message: string }> = [];
  let buildStart = NaN;
  let buildEnd = NaN;
  const openReleaseBuilder = async (o: { tempDirectory: string }): Promise<ReleaseBuilder> => {
    const inner = await openBuilder(o);
    return {
      async build(b) {
        buildStart = performance.now();
        try {
          return await inner.build(b);
        } finally {
          buildEnd = performance.now();
        }
      },
      close: () => inner.close(),
    };
  };
  let lastLog = 0;
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  let error: string | undefined;
  const result = await publishRelease(
    {
      ...adapters,
      records: timedPort(adapters.records, stats, 'records'),
      changes: timedPort(adapters.changes, stats, 'changes'),
      objects: timedPort(adapters.objects, stats, 'objects'),
      openReleaseBuilder,
      info: { datasetName: input.datasetName, publicBaseUrl: input.publicBaseUrl, bucketName: input.bucketName },
    },
    {
      full: input.full,
      maxDropShare: input.maxDropShare,
      onProgress: (message) => {
        const at = performance.now();
        marks.push({ at, message });
        // Per-page and per-object lines at most every 5 s.
        if (/^(read|uploaded) /.test(message) && at - lastLog < 5000) return;
        lastLog = at;
        process.stderr.write(`+${((at - t0) / 1000).toFixed(1)} s ${message}\n`);
      },
    },
  ).catch((err: unknown) => {
    // A failed publish is a figure too: what failed, where, and the memory it had reached.
    error = err instanceof Error ? err.message : String(err);
    process.stderr.write(`+${((performance.now() - t0) / 1000).toFixed(1)} s publish failed: ${error.split('\n')[0]}\n`);
    return undefined;
  });
  const end = performance.now();
  const mark = (prefix: RegExp) => marks.find((m) => prefix.test(m.message))?.at ?? NaN;
  const s = (k: string) => stats.get(k);
  const readStart = mark(/^(full rebuild|reading the changes)/);
  const firstPut = s('objects.putFile')?.first ?? NaN;
  const uploadEnd = s('objects.putFile')?.last ?? NaN;
  const committed = mark(/^committed release/);
  const copiesEnd = s('objects.copy')?.last ?? committed;
  const published = mark(/^published /);
  const phases: Array<[string, number]> = !result
    ? [['failed after', end - t0]]
    : result.published
    ? [
        ['start: lease, state, cut, catalog + manifest, orphan check, download + hash of the previous Parquet', readStart - t0],
        ['read the changes (change index + heads by id) or every head (full)', buildStart - readStart],
        ['build the tables in DuckDB (Parquet parts + gzip NDJSON)', buildEnd - buildStart],
        ['finish: deferred set and held-back records\' first release (store), schemas, SHA-256 of every file, manifest', firstPut - buildEnd],
        ['upload releases/<id>/ (If-None-Match)', uploadEnd - firstPut],
        ['commit catalog.json (If-Match) + release state', committed - uploadEnd],
        ['after the commit: index.html, athena, latest/ copies', copiesEnd - committed],
        ['resolved records out of the deferred set', published - copiesEnd],
        ['end: lease release, work folder removed', end - published],
      ]
    : [['no changes', end - t0]];
  adapters.dynamodb.destroy();
  adapters.s3.destroy();
  const maxRss = Math.max(process.resourceUsage().maxRSS * 1024, vmHwm() || 0);
  return { ...(result ? { result } : { error }), ms: end - t0, maxRss, rssBefore, phases, calls: Object.fromEntries(stats), sql: sql.sort((a, b) => b[1] - a[1]).slice(0, 12) };
}

if (isMain(import.meta.url)) {
  main(JSON.parse(process.argv[2]!) as ChildPublishInput).then(
    (out) => {
      process.stdout.write(`${RESULT}${JSON.stringify(out)}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`publish failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
