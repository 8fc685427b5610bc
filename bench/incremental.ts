/**
 * Benchmarks 4, 5 and 8 and the fan-out simulation, on releases seeded by bench/seed.ts (read its
 * header for exactly how: a committed release of N records made by the pipeline's own build, write and
 * commit steps, and a 1% change submitted through the real use cases after its cut).
 *
 * - 5: a publish with nothing changed at the large size (1 M) against the same at the tiny size (1 k),
 *   on the seeded releases as committed (their cut taken, latest/ synced, nothing marked since), before
 *   their changes are submitted: once each to warm up, then 5 rounds alternating, in this process; the
 *   median of each counts. Its bucket calls are counted (there must be none).
 * - 4: the incremental publish of the 1% change at the middle size (100 k) and at the large size
 *   (1 M), each in a child process of its own (bench/publish-child.ts), with the adapters' defaults
 *   (DuckDB memory_limit 1 GB, as in production): the figure is that process's peak RSS
 *   (`process.resourceUsage().maxRSS`, or VmHWM if higher) over its whole life. A publish that fails
 *   is reported as failed, with its error; the large one is then run again with other DuckDB settings
 *   (BENCH_RETRY_DUCKDB, default `threads=1`), for information only.
 * - 8: the same large publish's time (publishRelease alone), against DuckDB alone (same memory limit)
 *   reading the previous release's Parquet, already on local disk, and writing the same rows, one COPY
 *   per table (sources, events, event_actors, claims, persons) to Parquet with the publisher's options.
 *   The same rows to gzip NDJSON are timed too, as a second, informational reference.
 * - fan-out: bench/fanout.ts over the large release's events table and its changed events.
 * The tiny release's change is published too, as a check that the whole path works at that size.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LineSink } from '../pipeline/line-sink.ts';
import { flatRow, nextReleaseId, publishRelease } from '../pipeline/publish-release.ts';
import { publicRecord } from '../pipeline/redact.ts';
import { Manifest } from '../schemas/release.ts';
import { TABLES } from '../schemas/tables.ts';
import { parquetOptions } from '../storage/duckdb-release-builder.ts';
import { forPublishing } from '../storage/adapters.ts';
import { runFanout, type FanoutResult } from './fanout.ts';
import { describeDuckDb, publishInChild, type ChildPublish, type DuckDbSettings } from './publish-child.ts';
import { seedRelease, submitChange, type Seeded } from './seed.ts';
import { fmt, median, timedPort, type CallStats, type Endpoints, type Log } from './support.ts';

const RECORD_AND_ACTOR_TABLES = ['sources', 'events', 'event_actors', 'claims', 'persons'] as const;
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

export interface IncrementalSizes {
  /** The small side of 5. */
  tiny: number;
  /** The small side of 4. */
  mid: number;
  /** The large side of 4 and 5, and the size of 8 and the fan-out. */
  large: number;
}

export interface SeededPublish {
  n: number;
  seedSeconds: Record<string, number>;
  /** Has `error` when the publish failed. */
  publish: ChildPublish;
}

export interface IncrementalResult {
  sizes: IncrementalSizes;
  tiny: SeededPublish;
  mid: SeededPublish;
  large: SeededPublish;
  /** When the large publish failed: the same publish again with other DuckDB settings (informational). */
  largeRetry?: { duckdb: DuckDbSettings; publish: ChildPublish };
  reference8: { parquetMs: number; jsonMs: number; perTable: Record<string, { rows: number; parquetMs: number; jsonMs: number }> };
  noChange: { tiny: number[]; large: number[]; bucketCalls: number };
  fanout: FanoutResult;
}


/**
 * The incremental publish of a seeded release's change, in a child process. A publish that fails is
 * returned with its error (it is a result); one that succeeds must have published exactly the change.
 */
async function publishChange(endpoints: Endpoints, seeded: Seeded, log: Log, duckdb?: DuckDbSettings): Promise<ChildPublish> {
  const { bench } = seeded;
  const out = await publishInChild(
    {
      dynamodbEndpoint: endpoints.dynamodbEndpoint,
      s3Endpoint: endpoints.s3Endpoint,
      tableName: bench.tableName,
      bucketName: bench.bucketName,
      datasetName: bench.ctx.info.datasetName,
      publicBaseUrl: bench.ctx.info.publicBaseUrl,
      full: false,
      maxDropShare: bench.ctx.publishing.maxDropShare,
      ...(duckdb ? { duckdb } : {}),
    },
    log,
  );
  const limit = duckdb ? ` (DuckDB ${describeDuckDb(duckdb)})` : '';
  const r = out.result;
  if (!r) {
    log(`${fmt(seeded.n)}: the incremental publish${limit} FAILED after ${(out.ms / 1000).toFixed(1)} s, peak RSS ${fmt(out.maxRss / 2 ** 20)} MiB: ${out.error?.split('\n')[0]}`);
    return out;
  }
  if (!r.published) throw new Error(`the incremental publish at ${seeded.n} published nothing: ${r.reason}`);
  const e = seeded.expected;
  if (r.changes.add !== e.add || r.changes.modify !== e.modify || r.changes.delete !== e.delete || r.deferred.length > 0) {
    throw new Error(`the incremental publish at ${seeded.n} reported ${JSON.stringify(r.changes)} and ${r.deferred.length} deferred, not ${JSON.stringify(e)} and none`);
  }
  log(`${fmt(seeded.n)}: incremental publish${limit} of ${e.add} adds, ${e.modify} modifies, ${e.delete} deletes in ${(out.ms / 1000).toFixed(1)} s; peak RSS of the publisher process ${fmt(out.maxRss / 2 ** 20)} MiB`);
  return out;
}

async function seed(endpoints: Endpoints, n: number, log: Log): Promise<Seeded> {
  log(`seeding a release of ${fmt(n)} records …`);
  return seedRelease(endpoints, n, await mkdtemp(join(tmpdir(), `ledger-bench-seed-${n}-`)), log);
}

async function changeAndPublish(endpoints: Endpoints, seeded: Seeded, log: Log): Promise<SeededPublish> {
  await submitChange(seeded, log);
  const publish = await publishChange(endpoints, seeded, log);
  return { n: seeded.n, seedSeconds: seeded.timings, publish };
}

/** Downloads the seeded (previous) release's Parquet parts of the record and actor tables. */
async function downloadPrevious(seeded: Seeded, dir: string): Promise<Record<string, string[]>> {
  const { objects } = seeded.bench.ctx;
  const base = `releases/${seeded.version}/`;
  const manifest = Manifest.parse(JSON.parse(Buffer.from((await objects.get(`${base}manifest.json`))!).toString('utf8')));
  const parts: Record<string, string[]> = {};
  for (const res of manifest.resources) {
    if (res.format !== 'parquet' || !(RECORD_AND_ACTOR_TABLES as readonly string[]).includes(res.table)) continue;
    const path = join(dir, `${res.name}.parquet`);
    if (!(await objects.download(base + res.path, path))) throw new Error(`${base + res.path} is missing`);
    (parts[res.table] ??= []).push(path);
  }
  return parts;
}

/** Reference of 8: one COPY per table from the previous Parquet to Parquet; then the same rows to gzip NDJSON (informational). */
async function referenceRewrite(parts: Record<string, string[]>, dir: string): Promise<IncrementalResult['reference8']> {
  await mkdir(join(dir, 'duckdb'), { recursive: true });
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: '1GB', temp_directory: join(dir, 'duckdb') });
  const db = await instance.connect();
  const perTable: IncrementalResult['reference8']['perTable'] = {};
  try {
    for (const t of RECORD_AND_ACTOR_TABLES) {
      const source = `read_parquet([${parts[t]!.map(lit).join(', ')}])`;
      const p0 = performance.now();
      await db.run(`COPY (SELECT * FROM ${source}) TO ${lit(join(dir, `${t}.parquet`))} ${parquetOptions()}`);
      const parquetMs = performance.now() - p0;
      const j0 = performance.now();
      await db.run(`COPY (SELECT * FROM ${source}) TO ${lit(join(dir, `${t}.ndjson.gz`))} (FORMAT json, COMPRESSION gzip)`);
      const jsonMs = performance.now() - j0;
      const rows = Number((await db.runAndReadAll(`SELECT count(*) AS n FROM ${source}`)).getRowObjects()[0]!.n);
      perTable[t] = { rows, parquetMs, jsonMs };
    }
  } finally {
    db.closeSync();
    instance.closeSync();
  }
  const sum = (k: 'parquetMs' | 'jsonMs') => Object.values(perTable).reduce((s, v) => s + v[k], 0);
  return { parquetMs: sum('parquetMs'), jsonMs: sum('jsonMs'), perTable };
}

/** The flat rows of the change's events, as the read step writes them (from the store, by id). */
async function changedEventRows(seeded: Seeded, path: string): Promise<number> {
  const ids = [...seeded.plan.modified, ...seeded.plan.added].filter((id) => id.startsWith('evt-'));
  const heads = await seeded.bench.ctx.records.getHeads(ids);
  const sink = LineSink.plain(path);
  for (const head of heads.values()) await sink.write(JSON.stringify(flatRow(publicRecord(head, null)!, TABLES.events)));
  await sink.close();
  return heads.size;
}

/** A publish with nothing changed, in this process; returns ms. */
async function noChangePublish(seeded: Seeded, stats: Map<string, CallStats>): Promise<number> {
  const { ctx } = seeded.bench;
  const t0 = performance.now();
  const pub = forPublishing(ctx);
  const r = await publishRelease({ ...pub, objects: timedPort(pub.objects, stats, 'objects') }, {});
  const ms = performance.now() - t0;
  if (r.published || r.reason !== 'no changes') throw new Error(`a publish with nothing changed answered ${JSON.stringify(r)}`);
  return ms;
}

/** Benchmarks 4, 5, 8 and the fan-out (see the file's header). */
export async function runIncrementalBenches(endpoints: Endpoints, sizes: IncrementalSizes, log: Log, opts: { retry: DuckDbSettings }): Promise<IncrementalResult> {
  const work = await mkdtemp(join(tmpdir(), 'ledger-bench-incremental-'));
  const live: Seeded[] = [];
  try {
    const tinySeed = await seed(endpoints, sizes.tiny, log);
    live.push(tinySeed);
    const largeSeed = await seed(endpoints, sizes.large, log);
    live.push(largeSeed);

    // 5, on releases just committed with nothing marked since (before their changes are submitted).
    log(`5: publishes with nothing changed, ${fmt(sizes.large)} vs ${fmt(sizes.tiny)} records (1 warm-up each, then 5 rounds alternating) …`);
    const stats = new Map<string, CallStats>();
    await noChangePublish(tinySeed, stats);
    await noChangePublish(largeSeed, stats);
    const noChange = { tiny: [] as number[], large: [] as number[], bucketCalls: 0 };
    for (let round = 0; round < 5; round++) {
      const order = round % 2 === 0 ? (['large', 'tiny'] as const) : (['tiny', 'large'] as const);
      for (const which of order) noChange[which].push(await noChangePublish(which === 'large' ? largeSeed : tinySeed, stats));
    }
    noChange.bucketCalls = [...stats.values()].reduce((s, c) => s + c.calls, 0);
    log(`5: median ${median(noChange.large).toFixed(0)} ms at ${fmt(sizes.large)}, ${median(noChange.tiny).toFixed(0)} ms at ${fmt(sizes.tiny)}; bucket calls in all: ${noChange.bucketCalls}`);

    const tiny = await changeAndPublish(endpoints, tinySeed, log);
    const midSeed = await seed(endpoints, sizes.mid, log);
    const mid = await changeAndPublish(endpoints, midSeed, log).finally(() => midSeed.bench.dispose({ bucket: true }));
    const large = await changeAndPublish(endpoints, largeSeed, log);
    let largeRetry: IncrementalResult['largeRetry'];
    if (large.publish.error) {
      // Nothing was committed: the change is still marked, and the same publish can run again.
      log(`${fmt(sizes.large)}: the same publish again with DuckDB ${describeDuckDb(opts.retry)} (informational) …`);
      largeRetry = { duckdb: opts.retry, publish: await publishChange(endpoints, largeSeed, log, opts.retry) };
    }

    log(`8: REFERENCE: DuckDB alone rewriting the ${fmt(sizes.large)}-record release's Parquet (downloaded beforehand, not timed) …`);
    const previous = join(work, 'previous');
    await mkdir(previous);
    const parts = await downloadPrevious(largeSeed, previous);
    const reference8 = await referenceRewrite(parts, join(work, 'reference'));
    await rm(join(work, 'reference'), { recursive: true, force: true });
    log(`8: REFERENCE: one COPY per table to Parquet ${(reference8.parquetMs / 1000).toFixed(1)} s (the same rows to gzip NDJSON: ${(reference8.jsonMs / 1000).toFixed(1)} s more)`);

    log(`fan-out: building the events table of the ${fmt(sizes.large)}-record release in 4 processes …`);
    const changes = join(work, 'changed-events.ndjson');
    const changedEvents = await changedEventRows(largeSeed, changes);
    log(`fan-out: ${fmt(changedEvents)} changed events`);
    const fanout = await runFanout({ table: 'events', previous: parts.events!, changes, version: nextReleaseId(new Date(), largeSeed.version), work: join(work, 'fanout'), processes: 4, log });
    await rm(join(work, 'fanout'), { recursive: true, force: true });

    return { sizes, tiny, mid, large, ...(largeRetry ? { largeRetry } : {}), reference8, noChange, fanout };
  } finally {
    for (const s of live) await s.bench.dispose({ bucket: true });
    await rm(work, { recursive: true, force: true });
  }
}

