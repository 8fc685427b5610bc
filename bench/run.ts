/**
 * `npm run bench` (full sizes: ~45 min on 2 cores, 10 of them DynamoDB Local scanning 100 k heads twice
 * for id 3) or `npm run bench -- --quick` (reduced sizes, every id, under 3 minutes): starts DynamoDB
 * Local (in memory) and the local S3 server, runs every benchmark, writes the figures to
 * bench/results/latest.json (a quick run to bench/results/latest-quick.json), prints them as a table,
 * and always stops the services. Every ratio is against a reference measured in this same run; where
 * there is no reference (id 7) the target applies to the figure itself. Progress goes to stdout.
 * BENCH_ONLY=<group>[,<group>…] runs some groups (ingest, ingest-api, validation, query, cold-start, full,
 * incremental) and writes its own file; BENCH_RETRY_DUCKDB (default `threads=1`) sets the DuckDB
 * settings of the informational second try of a large publish that failed.
 *
 * | id | group | what | full | quick |
 * |---|---|---|---|---|
 * | 1 | ingest-api | bench/ingest-api.ts: POST /records, 4 clients, sealing on, vs BatchWriteItem of the items it wrote | 20 k records | 1 k |
 * | ingest | ingest | bench/ingest.ts: ingestRecords and POST /records vs raw BatchWriteItem; sealing on vs off | 5,000 records × 3 rounds | 500 × 1 |
 * | 2 | validation | bench/validation.ts: JSON text → validated records vs ajv and JSON.parse | 100 k records, 5 rounds | 10 k, 5 |
 * | 3 | full | bench/publish.ts: full publish vs parallel Scan + DuckDB COPY | 100 k records | 2 k |
 * | 4 | incremental | bench/incremental.ts: publisher peak RSS, incremental publish of a 1% change | 100 k and 1 M | 2 k and 20 k |
 * | 5 | incremental | bench/incremental.ts: publish with nothing changed | 1 M vs 1 k | 20 k vs 1 k |
 * | 6 | query | bench/query.ts: GROUP BY and join over a release's Parquet vs its gzip NDJSON, and their bytes | 100 k records, 5 runs | 5 k, 3 |
 * | 7 | cold-start | bench/cold-start.ts: each Lambda bundle's size and import time in a fresh process | 7 imports each | 3 |
 * | 8 | incremental | bench/incremental.ts: incremental publish of a 1% change vs DuckDB rewriting the previous Parquet | 1 M | 20 k |
 * | fanout | incremental | bench/fanout.ts: the events table's parts built in 4 processes vs 1 | 1 M-record release | 20 k |
 *
 * How each store and release is seeded: bench/publish.ts (id 3) and bench/seed.ts (ids 4, 5, 8, fan-out).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalServices, type LocalServices } from '../local/services.ts';
import { describeDuckDb, parseDuckDbSettings, type ChildPublish } from './publish-child.ts';
import { entry, failed, round, targetText, type Entry } from './entries.ts';
import { fmt, loadavg, median, table } from './support.ts';

// One INFO line per API request would interleave with the figures; set before the handlers load.
process.env.LEDGER_LOG_LEVEL ??= 'WARN';

const started = performance.now();
const log = (line: string) => process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
const MiB = 2 ** 20;

const SIZES = {
  full: { ingestApiN: 20_000, ingestApiWarm: 2000, ingestN: 5000, ingestRounds: 3, validationN: 100_000, validationRounds: 5, queryN: 100_000, queryRuns: 5, coldRuns: 7, full: 100_000, tiny: 1000, mid: 100_000, large: 1_000_000 },
  quick: { ingestApiN: 1000, ingestApiWarm: 200, ingestN: 500, ingestRounds: 1, validationN: 10_000, validationRounds: 5, queryN: 5000, queryRuns: 3, coldRuns: 5, full: 2000, tiny: 1000, mid: 2000, large: 20_000 },
};

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const mode = quick ? 'quick' : 'full';
  const sizes = SIZES[mode];
  const only = process.env.BENCH_ONLY;
  const groups = only ? new Set(only.split(',').map((g) => g.trim())) : undefined;
  const runs = (group: string) => !groups || groups.has(group);
  const loadavgBefore = os.loadavg().map((l) => round(l, 2));
  const entries: Entry[] = [];
  const details: Record<string, unknown> = {};
  const reports: string[] = [];
  const k = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000} M` : n >= 1000 ? `${n / 1000} k` : String(n));

  /** Runs one group; if it throws, its entries are recorded as failed (with the error) and the run goes on. */
  const guarded = async (group: string, ids: Array<[string, string, string, number | null, boolean]>, run: () => Promise<void>) => {
    const before = entries.length;
    try {
      await run();
    } catch (err) {
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      log(`${group} FAILED: ${message.split('\n')[0]}`);
      entries.splice(before);
      for (const [id, name, unit, target, floor] of ids) entries.push(failed(id, `${name} (the ${group} group failed)`, unit, null, target, message, floor));
    }
  };

  let services: LocalServices | undefined;
  try {
    log(`${mode} run; machine load average (1/5/15 min) before: ${loadavg()} on ${os.availableParallelism()} cores`);
    const svc = await startLocalServices({ log: (l) => log(l) });
    services = svc;

    if (runs('ingest-api')) await guarded('ingest-api', [['1', `ingest: ${k(sizes.ingestApiN)} records through POST /records, 4 clients, vs BatchWriteItem of the items it wrote`, 'records/s', 0.5, true]], async () => {
      const { runIngestApiBench } = await import('./ingest-api.ts');
      log(`1: ingest through POST /records, N=${sizes.ingestApiN}`);
      const name = `ingest: ${k(sizes.ingestApiN)} generated records through POST /records (NDJSON, up to 1000 a body, 4 concurrent clients, sealing on) into DynamoDB Local: records/s vs BatchWriteItem of exactly the items it wrote, 4 in flight`;
      const r = await runIngestApiBench(svc, { n: sizes.ingestApiN, warm: sizes.ingestApiWarm, log });
      reports.push(r.report);
      entries.push(entry('1', name, 'records/s', sizes.ingestApiN / (r.ms / 1000), sizes.ingestApiN / (r.referenceMs / 1000), 0.5, { floor: true }));
      const cpu = (c: typeof r.cpu.ours) => ({ wall_s: round(c.wallS, 1), node_cpu_s: round(c.nodeS, 1), dynamodb_local_cpu_s: c.dynamodbS === undefined ? null : round(c.dynamodbS, 1) });
      details['1'] = { records: r.n, seconds: round(r.ms / 1000), items_written: r.items, bodies_sent_again_after_503: r.retries, reference_seconds: round(r.referenceMs / 1000), cpu: { ours: cpu(r.cpu.ours), reference: cpu(r.cpu.reference) } };
    });

    if (runs('validation')) await guarded('validation', [['2', 'validation vs ajv', 'ms', 2, false], ['2', 'validation vs JSON.parse', 'ms', 3, false]], async () => {
      const { runValidationBench } = await import('./validation.ts');
      log(`2: validation, N=${sizes.validationN}`);
      const r = await runValidationBench({ n: sizes.validationN, rounds: sizes.validationRounds, log });
      reports.push(r.report);
      entries.push(
        entry('2', `validation: ${k(r.n)} records, NDJSON bytes → validated, normalised objects (parseSubmission + validateRecord: zod) vs ajv compiled from the derived JSON Schema (decode + JSON.parse + validate); median of ${sizes.validationRounds}`, 'ms', r.ours, r.ajv, 2),
        entry('2', `validation: the same vs decode + JSON.parse alone`, 'ms', r.ours, r.jsonParse, 3),
      );
      details['2'] = { records: r.n, bytes: r.bytes, rounds_ms: Object.fromEntries(Object.entries(r.rounds).map(([p, xs]) => [p, xs.map((x) => round(x, 1))])) };
    });

    if (runs('query')) await guarded('query', [['6', 'query GROUP BY', 'ms', 0.1, false], ['6', 'query JOIN', 'ms', 0.1, false], ['6', 'size Parquet vs gzip NDJSON', 'MiB', 1, false]], async () => {
      const { runQueryBench } = await import('./query.ts');
      log(`6: queries over a release of ${sizes.queryN} records`);
      const r = await runQueryBench(svc, { n: sizes.queryN, runs: sizes.queryRuns, log });
      reports.push(r.report);
      const over = `over the published events (${fmt(r.rows.events)} rows) and claims (${fmt(r.rows.claims)}) of a ${k(r.n)}-record release, DuckDB`;
      entries.push(
        entry('6', `query GROUP BY (events per province and type) ${over}: Parquet vs the gzip NDJSON (target ≤ 0.1: Parquet ≥ 10× faster); median of ${sizes.queryRuns}`, 'ms', r.ms.groupBy.parquet, r.ms.groupBy.ndjson, 0.1),
        entry('6', `query JOIN (claims × events per type and metric) ${over}: Parquet vs the gzip NDJSON (target ≤ 0.1)`, 'ms', r.ms.join.parquet, r.ms.join.ndjson, 0.1),
        entry('6', `size of events + claims: Parquet (all parts) vs gzip NDJSON (target ≤ 1)`, 'MiB', r.bytes.parquet / 2 ** 20, r.bytes.ndjson / 2 ** 20, 1),
      );
      details['6'] = { records: r.n, rows: r.rows, bytes: r.bytes, ms: Object.fromEntries(Object.entries(r.ms).map(([q, v]) => [q, { parquet: round(v.parquet, 1), ndjson: round(v.ndjson, 1) }])) };
    });

    if (runs('cold-start')) await guarded('cold-start', [['7', 'cold start', 'ms', 150, false]], async () => {
      const { runColdStartBench } = await import('./cold-start.ts');
      log(`7: cold start, ${sizes.coldRuns} imports per bundle`);
      const r = await runColdStartBench({ runs: sizes.coldRuns, log });
      reports.push(r.report);
      for (const b of r.bundles) {
        const clean = b.forbidden.length === 0 ? 'no DuckDB, no CDK' : `HOLDS ${b.forbidden.join(', ')}`;
        entries.push(entry('7', `${b.name}: bundle size (esbuild, minified, as the CDK app bundles it; ${b.api ? `${clean}; SDK clients: ${b.sdkClients.map((c) => c.replace('@aws-sdk/client-', '')).join(', ')}` : 'DuckDB external'})`, 'MiB', b.bytes / 2 ** 20, null, b.api ? 1 : null, { extra: b.forbidden.length === 0 }));
        entries.push(entry('7', `${b.name}: import in a fresh Node process, median of ${sizes.coldRuns}${b.api ? '' : ' (as deployed: DuckDB\'s native library loaded)'}`, 'ms', b.medianMs, null, 150));
      }
      const p = r.publisherWithoutDuckDb;
      entries.push(entry('7', `publisher: import without DuckDB's load (built with the API functions' stand-in), median of ${sizes.coldRuns}`, 'ms', p.medianMs, null, 150));
      const duck = median(r.duckdbAloneMs);
      entries.push(entry('7', `import('@duckdb/node-api') alone (its native library), median of ${sizes.coldRuns}`, 'ms', duck, null, null));
      const w = r.withoutSourceMaps;
      entries.push(entry('7', `${w.name}: import without NODE_OPTIONS=--enable-source-maps (the deployment sets it for readable stack traces), median of ${sizes.coldRuns}`, 'ms', w.medianMs, null, null));
      for (const f of r.floors) entries.push(entry('7', `floor: ${f.what}: bundled as an API function (${fmt(f.bytes / 1024)} KiB), import median of ${sizes.coldRuns}`, 'ms', f.medianMs, null, null));
      details['7'] = {
        ...Object.fromEntries(
          [...r.bundles, p].map((b) => [b.name, { bytes: b.bytes, import_ms: b.importMs.map((x) => round(x, 1)), sdk_clients: b.sdkClients, forbidden: b.forbidden, largest_inputs_kib: Object.fromEntries(b.inputs.slice(0, 8).map(([n, by]) => [n, round(by / 1024, 1)])) }]),
        ),
        floors: Object.fromEntries(r.floors.map((f) => [f.name, { what: f.what, bytes: f.bytes, import_ms: f.importMs.map((x) => round(x, 1)) }])),
        without_source_maps: { bundle: w.name, import_ms: w.importMs.map((x) => round(x, 1)) },
      };
    });

    if (runs('ingest')) await guarded('ingest', [['ingest', 'ingestRecords and POST /records vs raw BatchWriteItem', 'records/s', null, false], ['ingest-sealing', 'ingestRecords with sealing on vs off', 'records/s', 0.9, true]], async () => {
      const { runIngestBench } = await import('./ingest.ts');
      log(`ingest benchmark, N=${sizes.ingestN}, ${sizes.ingestRounds} round(s)`);
      const r = await runIngestBench(svc, { n: sizes.ingestN, rounds: sizes.ingestRounds, log });
      reports.push(r.report);
      entries.push(
        entry('ingest', `ingestRecords on DynamoDB, ${k(sizes.ingestN)} records: records/s vs raw BatchWriteItem of the same bytes (1 item per record)`, 'records/s', r.directRecordsPerSecond, r.referenceItemsPerSecond, null),
        entry('ingest', `POST /records over HTTP, ${k(sizes.ingestN)} records: records/s vs raw BatchWriteItem`, 'records/s', r.httpRecordsPerSecond, r.referenceItemsPerSecond, null),
        // A throughput ratio whose target is a floor: met when ≥ 0.9.
        entry('ingest-sealing', `ingestRecords with sealing on vs off (same run), ${k(sizes.ingestN)} records: records/s`, 'records/s', r.sealing.onRecordsPerSecond, r.sealing.offRecordsPerSecond, 0.9, { floor: true }),
      );
    });

    if (runs('full')) await guarded('full', [['3', 'full publish', 's', 1.5, false]], async () => {
      const { runFullPublishBench } = await import('./publish.ts');
      log(`3: full publish benchmark, N=${sizes.full}`);
      const r = await runFullPublishBench(svc, sizes.full, log);
      const name = `full publish (full: true), ${k(r.n)} records, vs parallel Scan of the heads + DuckDB COPY to Parquet and gzip NDJSON`;
      entries.push(r.ours.error ? failed('3', name, 's', r.reference.ms / 1000, 1.5, r.ours.error) : entry('3', name, 's', r.ours.ms / 1000, r.reference.ms / 1000, 1.5));
      details['3'] = {
        records: r.n,
        load_seconds: round(r.loadSeconds, 1),
        reference: { scan_seconds: round(r.reference.scanMs / 1000), duckdb_seconds: round(r.reference.duckdbMs / 1000), heads_per_second: round(r.reference.heads / (r.reference.scanMs / 1000), 0) },
        publish: childDetails(r.ours),
      };
    });

    if (runs('incremental')) await guarded('incremental', [['4', 'publisher peak RSS', 'MiB', 1.5, false], ['5', 'publish with nothing changed', 's', 1.5, false], ['8', 'incremental publish of a 1% change', 's', 2, false]], async () => {
      const { runIncrementalBenches } = await import('./incremental.ts');
      const retry = parseDuckDbSettings(process.env.BENCH_RETRY_DUCKDB ?? 'threads=1');
      const r = await runIncrementalBenches(svc, { tiny: sizes.tiny, mid: sizes.mid, large: sizes.large }, log, { retry });
      const rssMid = r.mid.publish.maxRss / MiB;
      const rssLarge = r.large.publish.maxRss / MiB;
      const name4 = `publisher peak RSS, incremental publish (1% change), ${k(sizes.large)} vs ${k(sizes.mid)} records (target also: ≤ 1536 MiB)`;
      const error4 = r.large.publish.error ?? r.mid.publish.error;
      entries.push(error4 ? failed('4', `${name4}; peak RSS when it failed: ${fmt(rssLarge)} MiB`, 'MiB', rssMid, 1.5, error4) : entry('4', name4, 'MiB', rssLarge, rssMid, 1.5, { extra: rssLarge <= 1536 }));
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
    });
  } finally {
    if (services) {
      log('stopping the local services …');
      await services.stop();
    }
  }

  const seconds = (performance.now() - started) / 1000;
  const machine = { cores: os.availableParallelism(), node: process.version, loadavg_before: loadavgBefore, loadavg_after: os.loadavg().map((l) => round(l, 2)), date: new Date().toISOString() };
  // A run of one group (BENCH_ONLY) writes its own file: it must not replace the results of a whole run.
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', `${quick ? 'latest-quick' : 'latest'}${groups ? `-${[...groups].join('-')}` : ''}.json`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify({ machine, run: { mode, seconds: round(seconds, 0), sizes }, entries, details }, null, 2) + '\n');

  const cell = (x: number | null, digits = 2) => (x === null ? '—' : fmt(x, digits));
  const rows = entries.map((e) => [
    e.id,
    e.name.length > 110 ? `${e.name.slice(0, 107)}…` : e.name,
    e.value === null ? 'FAILED' : `${cell(e.value)} ${e.unit}`,
    cell(e.reference),
    cell(e.ratio),
    targetText(e),
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
