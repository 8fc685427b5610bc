/**
 * Benchmark id 6: readers' queries over a published release. The release of N records (the realistic
 * mix: 45% events, 15% claims) is made by bench/seed.ts `seedRelease` (the real builder, finishRelease,
 * upload and commit), then its `events` and `claims` are downloaded as a reader would: the manifest from
 * the public bucket over plain HTTP, then every resource of the two tables it lists (all Parquet parts
 * and the gzip NDJSON), into a local folder (DuckDB's httpfs is not available offline; see TOOLCHAIN.md).
 *
 * Two queries, each run against both formats in one DuckDB (in memory, default settings):
 * - GROUP BY: events per province and type: count, killed (best), first and last day;
 * - JOIN: claims joined to their events, per event type and metric: count, sum of the claimed value.
 * OURS: the Parquet parts (flat columns). REFERENCE: the gzip NDJSON (nested shape, `read_json_auto`).
 * Each query runs once to warm up, then `runs` times per format in turns; the medians count. The two
 * formats must give the same rows, or the run fails. Figures: Parquet time ÷ NDJSON time (target ≤ 0.1,
 * i.e. Parquet at least 10× faster) and Parquet bytes ÷ gzip NDJSON bytes (target ≤ 1).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { seedRelease } from './seed.ts';
import { envInt, fmt, isMain, median, standalone, type Endpoints, type Log } from './support.ts';

const QUERY_TABLES = ['events', 'claims'] as const;
type QueryTable = (typeof QUERY_TABLES)[number];

export interface QueryBenchResult {
  n: number;
  rows: Record<QueryTable, number>;
  bytes: { parquet: number; ndjson: number };
  /** Median ms per query and format. */
  ms: Record<'groupBy' | 'join', { parquet: number; ndjson: number }>;
  report: string;
}

/** The SQL of each query over each format; `src` gives the FROM of a table. */
function queries(src: (t: QueryTable) => string, nested: boolean) {
  const admin1 = nested ? 'location.admin1' : 'admin1';
  const killed = nested ? 'killed.best' : 'killed_best';
  const value = nested ? 'c.value.best' : 'c.value_best';
  return {
    groupBy: `SELECT ${admin1} AS admin1, event_type, count(*) AS n, sum(${killed}) AS killed, min(date_start)::VARCHAR AS first_day, max(date_start)::VARCHAR AS last_day
      FROM ${src('events')} GROUP BY ALL ORDER BY ALL`,
    join: `SELECT e.event_type, c.metric, count(*) AS n, sum(${value}) AS claimed
      FROM ${src('claims')} c JOIN ${src('events')} e ON c.event_id = e.id GROUP BY ALL ORDER BY ALL`,
  };
}

/** Downloads the resources of `tables` listed in the release's manifest (public URL), into `dir`. Returns file paths and bytes per format. */
async function download(baseUrl: string, version: string, dir: string): Promise<{ parquet: Record<QueryTable, string[]>; ndjson: Record<QueryTable, string>; bytes: { parquet: number; ndjson: number } }> {
  const get = async (path: string) => {
    const res = await fetch(`${baseUrl}/releases/${version}/${path}`);
    if (!res.ok) throw new Error(`query bench: GET ${path} answered ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  };
  const manifest = JSON.parse((await get('manifest.json')).toString('utf8')) as { resources: Array<{ path: string; table?: string; format: string }> };
  const parquet = { events: [], claims: [] } as Record<QueryTable, string[]>;
  const ndjson = {} as Record<QueryTable, string>;
  const bytes = { parquet: 0, ndjson: 0 };
  for (const r of manifest.resources) {
    if (!(QUERY_TABLES as readonly string[]).includes(r.table ?? '')) continue;
    const t = r.table as QueryTable;
    const body = await get(r.path);
    const file = join(dir, r.path.replaceAll('/', '_'));
    await writeFile(file, body);
    if (r.format === 'parquet') {
      parquet[t].push(file);
      bytes.parquet += body.byteLength;
    } else if (r.path.endsWith('.ndjson.gz')) {
      ndjson[t] = file;
      bytes.ndjson += body.byteLength;
    }
  }
  for (const t of QUERY_TABLES) if (parquet[t].length === 0 || !ndjson[t]) throw new Error(`query bench: the manifest lists no Parquet or gzip NDJSON of ${t}`);
  return { parquet, ndjson, bytes };
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

export async function runQueryBench(endpoints: Endpoints, opts: { n: number; runs?: number; log: Log }): Promise<QueryBenchResult> {
  const { n, log } = opts;
  const runs = opts.runs ?? 5;
  const work = await mkdtemp(join(tmpdir(), 'ledger-bench-query-'));
  const seeded = await seedRelease(endpoints, n, join(work, 'seed'), log);
  try {
    const files = join(work, 'files');
    await mkdir(files, { recursive: true });
    const got = await download(`${endpoints.s3Endpoint}/${seeded.bench.bucketName}`, seeded.version, files);
    log(`query: release ${seeded.version} of ${fmt(n)} records downloaded: events + claims ${fmt(got.bytes.parquet / 2 ** 20, 1)} MiB Parquet, ${fmt(got.bytes.ndjson / 2 ** 20, 1)} MiB gzip NDJSON`);
    const instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    try {
      const parquetSql = queries((t) => `read_parquet([${got.parquet[t].map(sqlString).join(', ')}])`, false);
      const ndjsonSql = queries((t) => `read_json_auto(${sqlString(got.ndjson[t])}, format = 'newline_delimited')`, true);
      const rows = {} as Record<QueryTable, number>;
      for (const t of QUERY_TABLES) {
        const count = (await db.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet([${got.parquet[t].map(sqlString).join(', ')}])`)).getRowObjects()[0]!.n as number;
        rows[t] = count;
      }
      const ms = {} as QueryBenchResult['ms'];
      for (const q of ['groupBy', 'join'] as const) {
        const samples = { parquet: [] as number[], ndjson: [] as number[] };
        let answers: Record<'parquet' | 'ndjson', string> = { parquet: '', ndjson: '' };
        for (let round = -1; round < runs; round++) {
          for (const format of ['ndjson', 'parquet'] as const) {
            const t0 = performance.now();
            const result = await db.runAndReadAll(format === 'parquet' ? parquetSql[q] : ndjsonSql[q]);
            const elapsed = performance.now() - t0;
            const text = JSON.stringify(result.getRowObjectsJson());
            if (round < 0) answers = { ...answers, [format]: text };
            else samples[format].push(elapsed);
          }
        }
        if (answers.parquet !== answers.ndjson || answers.parquet === '[]') throw new Error(`query bench: ${q} answers differently over Parquet and NDJSON:\n  parquet ${answers.parquet.slice(0, 400)}\n  ndjson  ${answers.ndjson.slice(0, 400)}`);
        ms[q] = { parquet: median(samples.parquet), ndjson: median(samples.ndjson) };
        log(`query: ${q}: Parquet median ${fmt(ms[q].parquet, 1)} ms (${samples.parquet.map((x) => fmt(x, 1)).join(' / ')}), gzip NDJSON median ${fmt(ms[q].ndjson, 1)} ms (${samples.ndjson.map((x) => fmt(x, 1)).join(' / ')}); ${(JSON.parse(answers.parquet) as unknown[]).length} result rows, the same from both`);
      }
      const report = [
        `QUERY  release of ${fmt(n)} records (events ${fmt(rows.events)} rows, claims ${fmt(rows.claims)} rows), DuckDB in memory, median of ${runs} after a warm-up`,
        `  GROUP BY (events per province and type): Parquet ${fmt(ms.groupBy.parquet, 1)} ms, gzip NDJSON ${fmt(ms.groupBy.ndjson, 1)} ms, ratio ${(ms.groupBy.parquet / ms.groupBy.ndjson).toFixed(3)}`,
        `  JOIN (claims × events per type and metric): Parquet ${fmt(ms.join.parquet, 1)} ms, gzip NDJSON ${fmt(ms.join.ndjson, 1)} ms, ratio ${(ms.join.parquet / ms.join.ndjson).toFixed(3)}`,
        `  bytes of events + claims: Parquet ${fmt(got.bytes.parquet)} B, gzip NDJSON ${fmt(got.bytes.ndjson)} B, ratio ${(got.bytes.parquet / got.bytes.ndjson).toFixed(3)}`,
      ].join('\n');
      return { n, rows, bytes: got.bytes, ms, report };
    } finally {
      db.closeSync();
      instance.closeSync();
    }
  } finally {
    await seeded.bench.dispose({ bucket: true });
    await rm(work, { recursive: true, force: true });
  }
}

// On its own: `node --import tsx bench/query.ts` (BENCH_N, default 100000; BENCH_RUNS, default 5).
if (isMain(import.meta.url)) await standalone((endpoints, log) => runQueryBench(endpoints, { n: envInt('BENCH_N', 100_000), runs: envInt('BENCH_RUNS', 5), log }));
