/**
 * `npm run bench` (full sizes: ~27 min on 2 cores, 10 of them DynamoDB Local scanning 100 k heads twice
 * for id 3) or `npm run bench -- --quick` (reduced sizes, ~2 min): starts DynamoDB Local (in memory)
 * and the local S3 server, runs every benchmark, writes the figures to bench/results/latest.json (a
 * quick run to bench/results/latest-quick.json), prints them as a table, and always stops the
 * services. Every ratio is against a reference measured in this same run. Progress goes to stdout.
 * BENCH_ONLY=ingest|full|incremental runs one group; BENCH_RETRY_DUCKDB (default `threads=1`) sets the
 * DuckDB settings of the informational second try of a large publish that failed.
 *
 * | id | what | full | quick |
 * |---|---|---|---|
 * | ingest | bench/ingest.ts: ingestRecords and POST /records vs raw BatchWriteItem | 5,000 records × 3 rounds | 1,000 × 1 |
 * | 3 | bench/publish.ts: full publish vs parallel Scan + DuckDB COPY | 100 k records | 2 k |
 * | 4 | bench/incremental.ts: publisher peak RSS, incremental publish of a 1% change | 100 k and 1 M | 5 k and 50 k |
 * | 5 | bench/incremental.ts: publish with nothing changed | 1 M vs 1 k | 50 k vs 1 k |
 * | 8 | bench/incremental.ts: incremental publish of a 1% change vs DuckDB rewriting the previous Parquet | 1 M | 50 k |
 * | fanout | bench/fanout.ts: the events table's parts built in 4 processes vs 1 | 1 M-record release | 50 k |
 *
 * How each store and release is seeded: bench/publish.ts (id 3) and bench/seed.ts (ids 4, 5, 8, fan-out).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalServices, type LocalServices } from '../local/services.ts';
import { describeDuckDb, parseDuckDbSettings, type ChildPublish } from './publish-child.ts';
import { fmt, loadavg, table } from './support.ts';

// One INFO line per API request would interleave with the figures; set before the handlers load.
process.env.LEDGER_LOG_LEVEL ??= 'WARN';

const started = performance.now();
const log = (line: string) => process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
const MiB = 2 ** 20;

/**
 * One figure of latest.json: `ratio` = value ÷ reference; `met` = ratio within `target` (null:
 * informational). A measurement that failed has value and ratio null, met false, and `error`.
 */
export interface Entry {
  id: string;
  name: string;
  value: number | null;
  unit: string;
  reference: number | null;
  ratio: number | null;
  target: number | null;
  met: boolean | null;
  error?: string;
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));
function entry(id: string, name: string, unit: string, value: number, reference: number | null, target: number | null, extra = true): Entry {
  const ratio = reference === null ? null : value / reference;
  return { id, name, value: round(value), unit, reference: reference === null ? null : round(reference), ratio: ratio === null ? null : round(ratio), target, met: target === null || ratio === null ? null : ratio <= target && extra };
}
function failed(id: string, name: string, unit: string, reference: number | null, target: number | null, error: string): Entry {
  return { id, name, value: null, unit, reference: reference === null ? null : round(reference), ratio: null, target, met: target === null ? null : false, error: error.split('\n')[0]! };
}

const SIZES = {
  full: { ingestN: 5000, ingestRounds: 3, full: 100_000, tiny: 1000, mid: 100_000, large: 1_000_000 },
  quick: { ingestN: 1000, ingestRounds: 1, full: 2000, tiny: 1000, mid: 5000, large: 50_000 },
};

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const mode = quick ? 'quick' : 'full';
  const sizes = SIZES[mode];
  const only = process.env.BENCH_ONLY;
  const loadavgBefore = os.loadavg().map((l) => round(l, 2));
  const entries: Entry[] = [];
  const details: Record<string, unknown> = {};
  const reports: string[] = [];
  const k = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000} M` : n >= 1000 ? `${n / 1000} k` : String(n));

  let services: LocalServices | undefined;
  try {
    log(`${mode} run; machine load average (1/5/15 min) before: ${loadavg()} on ${os.availableParallelism()} cores`);
    services = await startLocalServices({ log: (l) => log(l) });

    if (!only || only === 'ingest') {
      const { runIngestBench } = await import('./ingest.ts');
      log(`ingest benchmark, N=${sizes.ingestN}, ${sizes.ingestRounds} round(s)`);
      const r = await runIngestBench(services, { n: sizes.ingestN, rounds: sizes.ingestRounds, log });
      reports.push(r.report);
      entries.push(
        entry('ingest', `ingestRecords on DynamoDB, ${k(sizes.ingestN)} records: records/s vs raw BatchWriteItem of the same bytes (1 item per record)`, 'records/s', r.directRecordsPerSecond, r.referenceItemsPerSecond, null),
        entry('ingest', `POST /records over HTTP, ${k(sizes.ingestN)} records: records/s vs raw BatchWriteItem`, 'records/s', r.httpRecordsPerSecond, r.referenceItemsPerSecond, null),
        // A throughput ratio whose target is a floor: met when ≥ 0.9.
        { ...entry('ingest-sealing', `ingestRecords with sealing on vs off (same run), ${k(sizes.ingestN)} records: records/s, target ratio ≥ 0.9`, 'records/s', r.sealing.onRecordsPerSecond, r.sealing.offRecordsPerSecond, null), target: 0.9, met: r.sealing.ratio >= 0.9 },
      );
    }

    if (!only || only === 'full') {
      const { runFullPublishBench } = await import('./publish.ts');
      log(`3: full publish benchmark, N=${sizes.full}`);
      const r = await runFullPublishBench(services, sizes.full, log);
      const name = `full publish (full: true), ${k(r.n)} records, vs parallel Scan of the heads + DuckDB COPY to Parquet and gzip NDJSON`;
      entries.push(r.ours.error ? failed('3', name, 's', r.reference.ms / 1000, 1.5, r.ours.error) : entry('3', name, 's', r.ours.ms / 1000, r.reference.ms / 1000, 1.5));
      details['3'] = {
        records: r.n,
        load_seconds: round(r.loadSeconds, 1),
        reference: { scan_seconds: round(r.reference.scanMs / 1000), duckdb_seconds: round(r.reference.duckdbMs / 1000), heads_per_second: round(r.reference.heads / (r.reference.scanMs / 1000), 0) },
        publish: childDetails(r.ours),
      };
    }

    if (!only || only === 'incremental') {
      const { runIncrementalBenches, median } = await import('./incremental.ts');
      const retry = parseDuckDbSettings(process.env.BENCH_RETRY_DUCKDB ?? 'threads=1');
      const r = await runIncrementalBenches(services, { tiny: sizes.tiny, mid: sizes.mid, large: sizes.large }, log, { retry });
      const rssMid = r.mid.publish.maxRss / MiB;
      const rssLarge = r.large.publish.maxRss / MiB;
      const name4 = `publisher peak RSS, incremental publish (1% change), ${k(sizes.large)} vs ${k(sizes.mid)} records (target also: ≤ 1536 MiB)`;
      const error4 = r.large.publish.error ?? r.mid.publish.error;
      entries.push(error4 ? failed('4', `${name4}; peak RSS when it failed: ${fmt(rssLarge)} MiB`, 'MiB', rssMid, 1.5, error4) : entry('4', name4, 'MiB', rssLarge, rssMid, 1.5, rssLarge <= 1536));
      const nl = median(r.noChange.large) / 1000;
      const nt = median(r.noChange.tiny) / 1000;
      entries.push(entry('5', `publish with nothing changed, ${k(sizes.large)} vs ${k(sizes.tiny)} records (median of 5)`, 's', nl, nt, 1.5));
      const name8 = `incremental publish of a 1% change, ${k(sizes.large)} records, vs DuckDB alone rewriting the previous release's Parquet (one COPY per table)`;
      const ref8 = r.reference8.parquetMs / 1000;
      entries.push(r.large.publish.error ? failed('8', name8, 's', ref8, 2, r.large.publish.error) : entry('8', name8, 's', r.large.publish.ms / 1000, ref8, 2));
      if (r.largeRetry) {
        const p = r.largeRetry.publish;
        const what = `the same ${k(sizes.large)} publish with DuckDB ${describeDuckDb(r.largeRetry.duckdb)} (informational)`;
        entries.push(
          p.error ? failed('8', `${what}: time vs the DuckDB reference`, 's', ref8, null, p.error) : entry('8', `${what}: time vs the DuckDB reference`, 's', p.ms / 1000, ref8, null),
          entry('4', `${what}: peak RSS vs RSS at ${k(sizes.mid)}`, 'MiB', p.maxRss / MiB, rssMid, null),
        );
      }
      const f = r.fanout;
      const single = f.single.parts[0]!;
      entries.push(
        entry('fanout', `${f.processes} processes building the ${f.table} table's parts (${k(f.rows)} rows) at once on this machine vs 1 process building it whole: wall time`, 's', f.parallel.wallMs / 1000, f.single.wallMs / 1000, null),
        entry('fanout', `the slowest of the ${f.processes} part builds run alone (wall time of a fan-out with one machine per part) vs 1 process`, 's', Math.max(...f.sequential.parts.map((p) => p.wallMs)) / 1000, f.single.wallMs / 1000, null),
        entry('fanout', `peak RSS of a part process (largest of ${f.processes}) vs the 1 process`, 'MiB', Math.max(...f.parallel.parts.map((p) => p.maxRss)) / MiB, single.maxRss / MiB, null),
      );
      details['4'] = {
        [k(sizes.mid)]: { seed_seconds: roundAll(r.mid.seedSeconds), publish: childDetails(r.mid.publish) },
        [k(sizes.large)]: { seed_seconds: roundAll(r.large.seedSeconds), publish: childDetails(r.large.publish) },
        ...(r.largeRetry ? { [`${k(sizes.large)} with DuckDB ${describeDuckDb(r.largeRetry.duckdb)}`]: { publish: childDetails(r.largeRetry.publish) } } : {}),
        [`${k(sizes.tiny)} (check)`]: { seed_seconds: roundAll(r.tiny.seedSeconds), publish: childDetails(r.tiny.publish) },
      };
      details['5'] = {
        [k(sizes.large)]: r.noChange.large.map((ms) => round(ms, 1)),
        [k(sizes.tiny)]: r.noChange.tiny.map((ms) => round(ms, 1)),
        unit: 'ms',
        bucket_calls: r.noChange.bucketCalls,
      };
      details['8'] = {
        reference_parquet_seconds: round(r.reference8.parquetMs / 1000),
        reference_gzip_ndjson_seconds: round(r.reference8.jsonMs / 1000),
        ratio_to_parquet_plus_gzip_ndjson: r.large.publish.error ? null : round(r.large.publish.ms / (r.reference8.parquetMs + r.reference8.jsonMs)),
        ...(r.largeRetry && !r.largeRetry.publish.error
          ? { [`with DuckDB ${describeDuckDb(r.largeRetry.duckdb)}: ratio_to_parquet_plus_gzip_ndjson`]: round(r.largeRetry.publish.ms / (r.reference8.parquetMs + r.reference8.jsonMs)) }
          : {}),
        per_table: Object.fromEntries(Object.entries(r.reference8.perTable).map(([t, v]) => [t, { rows: v.rows, parquet_seconds: round(v.parquetMs / 1000), gzip_ndjson_seconds: round(v.jsonMs / 1000) }])),
        publish: 'see 4',
      };
      details.fanout = {
        table: f.table,
        rows: f.rows,
        single: { wall_seconds: round(f.single.wallMs / 1000), duckdb_seconds: round(single.ms / 1000), peak_rss_mib: round(single.maxRss / MiB, 0) },
        parallel: { wall_seconds: round(f.parallel.wallMs / 1000), parts: f.parallel.parts.map((p) => ({ rows: p.rows, wall_seconds: round(p.wallMs / 1000), duckdb_seconds: round(p.ms / 1000), peak_rss_mib: round(p.maxRss / MiB, 0) })) },
        sequential: { wall_seconds: round(f.sequential.wallMs / 1000), parts: f.sequential.parts.map((p) => ({ rows: p.rows, wall_seconds: round(p.wallMs / 1000), duckdb_seconds: round(p.ms / 1000), peak_rss_mib: round(p.maxRss / MiB, 0) })) },
      };
    }
  } finally {
    if (services) {
      log('stopping the local services …');
      await services.stop();
    }
  }

  const seconds = (performance.now() - started) / 1000;
  const machine = { cores: os.availableParallelism(), node: process.version, loadavg_before: loadavgBefore, loadavg_after: os.loadavg().map((l) => round(l, 2)), date: new Date().toISOString() };
  // A run of one group (BENCH_ONLY) writes its own file: it must not replace the results of a whole run.
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', `${quick ? 'latest-quick' : 'latest'}${only ? `-${only}` : ''}.json`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify({ machine, run: { mode, seconds: round(seconds, 0), sizes }, entries, details }, null, 2) + '\n');

  const cell = (x: number | null, digits = 2) => (x === null ? '—' : fmt(x, digits));
  const rows = entries.map((e) => [
    e.id,
    e.name.length > 110 ? `${e.name.slice(0, 107)}…` : e.name,
    e.value === null ? 'FAILED' : `${cell(e.value)} ${e.unit}`,
    cell(e.reference),
    cell(e.ratio),
    e.target === null ? '—' : `${e.id === 'ingest-sealing' ? '≥' : '≤'} ${e.target}`,
    e.met === null ? '—' : e.met ? 'yes' : 'NO',
  ]);
  const errors = entries.filter((e) => e.error).map((e) => `${e.id} failed: ${e.error}`);
  process.stdout.write(`\n${reports.join('\n\n')}\n\n`);
  process.stdout.write(`==== ${mode.toUpperCase()} RUN: ${seconds.toFixed(0)} s in all; Node ${process.version}, ${machine.cores} cores; load average ${loadavgBefore.join(' / ')} before, ${machine.loadavg_after.join(' / ')} after ====\n\n`);
  process.stdout.write(table(['id', 'what', 'value', 'reference', 'ratio', 'target', 'met'], rows, 2) + '\n\n');
  if (errors.length > 0) process.stdout.write(errors.join('\n') + '\n\n');
  process.stdout.write(`written to ${out}\n`);
}

/** What latest.json keeps of a child publish: time, RSS, phases, the slowest DuckDB statements. */
function childDetails(c: ChildPublish) {
  return {
    seconds: round(c.ms / 1000),
    peak_rss_mib: round(c.maxRss / MiB, 0),
    rss_before_publish_mib: round(c.rssBefore / MiB, 0),
    ...(c.error ? { error: c.error } : {}),
    result: !c.result ? null : c.result.published ? { version: c.result.version, record_counts: c.result.record_counts, changes: c.result.changes, deferred: c.result.deferred.length } : c.result,
    phases_seconds: Object.fromEntries(c.phases.map(([name, ms]) => [name, round(ms / 1000)])),
    slowest_duckdb_statements: c.sql.slice(0, 6).map(([sql, ms]) => ({ seconds: round(ms / 1000), sql })),
    port_calls: Object.fromEntries(Object.entries(c.calls).map(([name, s]) => [name, { calls: s.calls, seconds: round(s.ms / 1000) }])),
  };
}

const roundAll = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([key, v]) => [key, round(v, 1)]));

main().then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
