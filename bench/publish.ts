/**
 * Publish benchmark. Loads N records into a fresh table through the store's writeRevision (the heads
 * and revisions are made by ingestRecords with an editor principal against an in-memory store, so they
 * are exactly what the pipeline would write), then OURS: publishRelease end to end, with its stages
 * timed from opts.onProgress and from thin wrappers around its ports; REFERENCE: DuckDB alone turning
 * the same flat rows (rebuilt from the release's own json/*.ndjson.gz with the pipeline's flatRow) into
 * Parquet ZSTD with `COPY (SELECT * FROM read_json_auto(file)) TO … (FORMAT parquet, COMPRESSION zstd)`.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { canonicalJson } from '../pipeline/canonical.ts';
import { ingestRecords } from '../pipeline/ingest-records.ts';
import { systemClock, type ObjectStore, type ParquetWriter, type Principal } from '../pipeline/ports.ts';
import { flatRow, publishRelease } from '../pipeline/publish-release.ts';
import { TABLES, TABLE_NAMES, duckType, type ColumnType, type TableName } from '../schemas/tables.ts';
import { generateRecords, mixFor, validateSample } from './records.ts';
import { MemoryRecordStore, RssSampler, TimedRecordStore, batchWrite, benchContext, envInt, fmt, isMain, standalone, headItem, mb, pool, revisionItem, table, type Endpoints, type Log } from './support.ts';

export interface PublishBenchOptions {
  n: number;
  /** How the records get into the store before the publish (not timed as part of it). */
  loader?: 'batch' | 'writeRevision';
  log: Log;
}

export interface PublishBenchResult {
  n: number;
  report: string;
  publishSeconds: number;
  parquetSeconds: number;
  referenceEventsSeconds: number;
  referenceAllSeconds: number;
  ratios: { publishVsRefEvents: number; parquetVsRefEvents: number; eventsParquetVsRefEvents: number; parquetVsRefAll: number };
  peakRssPublish: number;
  peakRssReference: number;
}

const EDITOR: Principal = { keyId: 'key_bench_editor', role: 'editor' };
const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Times every put and get of an ObjectStore, and notes when the first put happened. */
class TimedObjects implements ObjectStore {
  puts = 0;
  putMs = 0;
  putBytes = 0;
  firstPutAt: number | undefined;
  constructor(private readonly inner: ObjectStore) {}
  async put(key: string, body: Uint8Array, opts: Parameters<ObjectStore['put']>[2]): Promise<void> {
    this.firstPutAt ??= performance.now();
    const t0 = performance.now();
    await this.inner.put(key, body, opts);
    this.putMs += performance.now() - t0;
    this.puts++;
    this.putBytes += body.byteLength;
  }
  get(key: string) {
    return this.inner.get(key);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  ping() {
    return this.inner.ping();
  }
}

export async function runPublishBench(endpoints: Endpoints, opts: PublishBenchOptions): Promise<PublishBenchResult> {
  const { n, log } = opts;
  const loader = opts.loader ?? 'batch';
  const counts = mixFor(n);
  const records = generateRecords(counts, 20260202);
  const checked = validateSample(records);
  log(`publish: ${n} records (${counts.sources} sources, ${counts.events} events, ${counts.claims} claims, ${counts.persons} persons); ${checked} sampled records valid`);

  const bench = await benchContext(endpoints, 'publish');
  const work = await mkdtemp(join(tmpdir(), 'ledger-bench-publish-'));
  try {
    const { ctx } = bench;
    // Heads and revisions exactly as ingestRecords makes them (editor: approved at once) …
    const memory = new MemoryRecordStore();
    for (let i = 0; i < records.length; i += 1000) {
      const out = await ingestRecords(records.slice(i, i + 1000), EDITOR, { records: memory, clock: systemClock });
      if (out.rejected > 0) throw new Error(`the generator made ${out.rejected} record(s) the pipeline rejects: ${JSON.stringify(out.results.find((r) => r.status === 'rejected'))}`);
    }
    // … then stored. `writeRevision` = the store's own method (one transaction per record, 16 in flight);
    // `batch` (default) = the very items that method writes, via BatchWriteItem: DynamoDB Local runs
    // transactions at only ~200–300/s here, and the load is not what is measured. Either way a sample is
    // read back through the store and compared with what the pipeline made.
    const revById = new Map(memory.revisions.map((r) => [r.id, r]));
    const heads = [...memory.heads.values()];
    const t0 = performance.now();
    let loaded = 0;
    if (loader === 'writeRevision') {
      await pool(heads, 16, async (head) => {
        if (!(await ctx.records.writeRevision(head, revById.get(head.id)!))) throw new Error(`writeRevision refused ${head.id}`);
        if (++loaded % 5000 === 0) log(`publish: loaded ${loaded} / ${n} records …`);
      });
    } else {
      const items = heads.flatMap((h) => [headItem(h), revisionItem(revById.get(h.id)!)]);
      await batchWrite(ctx.dynamodb, bench.tableName, items, 16);
    }
    const loadMs = performance.now() - t0;
    for (const head of [heads[0]!, heads[Math.floor(n / 2)]!, heads[n - 1]!]) {
      const stored = await ctx.records.getHead(head.id);
      if (!stored || canonicalJson(stored) !== canonicalJson(head)) throw new Error(`the stored head of ${head.id} differs from the one the pipeline made`);
    }
    log(`publish: loaded ${n} records (${loader}) in ${(loadMs / 1000).toFixed(1)} s (${fmt(n / (loadMs / 1000))} records/s; not part of the publish); 3 read back through the store: identical`);

    // OURS: publishRelease end to end.
    const marks: Array<{ at: number; message: string }> = [];
    const objects = new TimedObjects(ctx.objects);
    const parquetWrites: Partial<Record<TableName, number>> = {};
    let parquetOpenAt = 0;
    let parquetClosedAt = 0;
    const openParquetWriter = async (): Promise<ParquetWriter> => {
      parquetOpenAt = performance.now();
      const inner = await ctx.openParquetWriter();
      return {
        async write(tableDef, rowsPath, outPrefix, o) {
          const w0 = performance.now();
          const paths = await inner.write(tableDef, rowsPath, outPrefix, o);
          parquetWrites[tableDef.name as TableName] = performance.now() - w0;
          return paths;
        },
        async close() {
          await inner.close();
          parquetClosedAt = performance.now();
        },
      };
    };
    // Time spent waiting for scan pages (DynamoDB) vs. the rest of the scan stage (our per-record work).
    const timedRecords = new TimedRecordStore(ctx.records);
    let lastReadLog = 0;
    const rssBefore = process.memoryUsage().rss;
    const rss = new RssSampler();
    const p0 = performance.now();
    const result = await publishRelease(
      { ...ctx, records: timedRecords, objects, openParquetWriter },
      {
        onProgress: (message) => {
          const at = performance.now();
          marks.push({ at, message });
          if (message.startsWith('read ')) {
            if (at - lastReadLog > 2000) {
              lastReadLog = at;
              log(`publish: … ${message}`);
            }
          } else log(`publish: … ${message} (+${((at - p0) / 1000).toFixed(1)} s)`);
        },
      },
    );
    const publishMs = performance.now() - p0;
    const peakRssPublish = rss.stop();
    if (!result.published) throw new Error(`nothing was published: ${result.reason}`);
    const total = RECORD_TABLES.reduce((s, t) => s + result.record_counts[t]!, 0);
    if (total !== n) throw new Error(`the release holds ${total} records, not ${n}`);
    log(`publish: release ${result.version} in ${(publishMs / 1000).toFixed(1)} s; peak RSS ${mb(peakRssPublish)}`);

    const scanStats = timedRecords.stats.get('scanPage') ?? { calls: 1, ms: NaN };
    const lastRead = [...marks].reverse().find((m) => m.message.startsWith('read '))?.at ?? p0;
    const releaseWritten = marks.find((m) => m.message.startsWith('wrote releases/'))?.at ?? NaN;
    const publishedAt = marks.find((m) => m.message.startsWith('published '))?.at ?? NaN;
    const parquetMs = parquetClosedAt - parquetOpenAt;

    // REFERENCE: the same flat rows, exported from the release itself, through DuckDB alone.
    const flatFiles: Partial<Record<TableName, { path: string; rows: number; bytes: number }>> = {};
    for (const t of TABLE_NAMES) {
      const gz = await ctx.objects.get(`releases/${result.version}/json/${t}.ndjson.gz`);
      if (!gz) throw new Error(`the release lacks json/${t}.ndjson.gz`);
      const lines = gunzipSync(gz).toString('utf8').split('\n').filter((l) => l.length > 0);
      const path = join(work, `${t}.ndjson`);
      await writeFile(path, lines.map((l) => JSON.stringify(flatRow(JSON.parse(l) as Record<string, unknown>, TABLES[t]))).join('\n') + '\n');
      if (lines.length !== result.record_counts[t]) throw new Error(`${t}: ${lines.length} rows exported, the manifest says ${result.record_counts[t]}`);
      flatFiles[t] = { path, rows: lines.length, bytes: (await stat(path)).size };
    }
    const refMs: Partial<Record<TableName, number>> = {};
    const countMs: Partial<Record<TableName, number>> = {};
    const rssRef = new RssSampler();
    for (const t of TABLE_NAMES) {
      const f = flatFiles[t]!;
      const r0 = performance.now();
      const instance = await DuckDBInstance.create(':memory:');
      const db = await instance.connect();
      try {
        await db.run(`COPY (SELECT * FROM read_json_auto(${sqlString(f.path)})) TO ${sqlString(join(work, `${t}.parquet`))} (FORMAT parquet, COMPRESSION zstd)`);
        refMs[t] = performance.now() - r0;
        // Diagnostic, not part of the reference: the row count pass our writer makes before its COPY.
        const columns = `{${TABLES[t].columns.map((c) => `${sqlString(c.name)}: ${sqlString(duckType(c.type as ColumnType))}`).join(', ')}}`;
        const c0 = performance.now();
        await db.runAndReadAll(`SELECT count(*) AS n FROM read_json(${sqlString(f.path)}, format = 'newline_delimited', columns = ${columns}, maximum_object_size = 67108864)`);
        countMs[t] = performance.now() - c0;
      } finally {
        db.closeSync();
        instance.closeSync();
      }
    }
    const peakRssReference = rssRef.stop();
    const refEventsMs = refMs.events!;
    const refAllMs = TABLE_NAMES.reduce((s, t) => s + refMs[t]!, 0);
    log(`publish: DuckDB reference: events ${fmt(refEventsMs)} ms, all 6 tables ${fmt(refAllMs)} ms; peak RSS ${mb(peakRssReference)}`);

    const events = flatFiles.events!.rows;
    const sec = (ms: number) => (ms / 1000).toFixed(2);
    const rowsPerSec = (rows: number, ms: number) => fmt(rows / (ms / 1000));
    const stage = (label: string, ms: number, rows?: number): string[] => [label, rows === undefined ? '' : fmt(rows), sec(ms), rows === undefined ? '' : rowsPerSec(rows, ms)];
    const allRows = TABLE_NAMES.reduce((s, t) => s + flatFiles[t]!.rows, 0);
    const rows: string[][] = [
      stage('OURS publishRelease, end to end', publishMs, n),
      stage('  scan heads + redact + write row files', lastRead - p0, n),
      stage(`    of which waiting for ${scanStats.calls - 1} scan pages (DynamoDB + SDK + item parse)`, scanStats.ms, timedRecords.scannedHeads),
      stage('    of which our per-record work', lastRead - p0 - scanStats.ms, n),
      stage('  changes + close row files (gzip flush)', parquetOpenAt - lastRead),
      stage('  Parquet stage (DuckDB writer, 6 tables)', parquetMs, allRows),
      stage('    of which events table', parquetWrites.events!, events),
      stage('  manifest, hashes, schemas', (objects.firstPutAt ?? NaN) - parquetClosedAt),
      stage(`  upload releases/… (${objects.puts} puts in all, ${mb(objects.putBytes)})`, releaseWritten - (objects.firstPutAt ?? NaN)),
      stage('  latest/ + athena + index + catalog', publishedAt - releaseWritten),
      stage('REFERENCE DuckDB COPY events (read_json_auto → zstd)', refEventsMs, events),
      stage('REFERENCE DuckDB COPY, all 6 tables', refAllMs, allRows),
    ];
    const ratios = {
      publishVsRefEvents: publishMs / refEventsMs,
      parquetVsRefEvents: parquetMs / refEventsMs,
      eventsParquetVsRefEvents: parquetWrites.events! / refEventsMs,
      parquetVsRefAll: parquetMs / refAllMs,
    };
    const perTable = TABLE_NAMES.map((t) => `${t} ${flatFiles[t]!.rows} rows ${mb(flatFiles[t]!.bytes)}: ours ${fmt(parquetWrites[t]!)} ms, ref ${fmt(refMs[t]!)} ms, count pass ${fmt(countMs[t]!)} ms`).join('\n  ');
    const report = [
      `PUBLISH  N=${n} records (${counts.events} events, ${result.record_counts.event_actors} actor rows); loaded beforehand in ${(loadMs / 1000).toFixed(1)} s (${loader})`,
      table(['phase', 'rows', 'seconds', 'rows/s'], rows),
      `RATIOS  publish total / DuckDB events reference = ${ratios.publishVsRefEvents.toFixed(2)};  Parquet stage / DuckDB events reference = ${ratios.parquetVsRefEvents.toFixed(2)}`,
      `        (like for like: events Parquet write / events reference = ${ratios.eventsParquetVsRefEvents.toFixed(2)}; Parquet stage / all-6-tables reference = ${ratios.parquetVsRefAll.toFixed(2)})`,
      `Peak RSS of this process (sampled every 20 ms; the bench itself holds the ${n} records and heads): ${mb(rssBefore)} before the publish, peak ${mb(peakRssPublish)} during it, during the DuckDB reference ${mb(peakRssReference)}; lifetime maxRSS ${mb(process.resourceUsage().maxRSS * 1024)}`,
      `Per table (flat NDJSON → Parquet):\n  ${perTable}`,
      `S3 puts: ${objects.puts}, ${(objects.putMs / 1000).toFixed(2)} s in all.`,
    ].join('\n');
    return {
      n,
      report,
      publishSeconds: publishMs / 1000,
      parquetSeconds: parquetMs / 1000,
      referenceEventsSeconds: refEventsMs / 1000,
      referenceAllSeconds: refAllMs / 1000,
      ratios,
      peakRssPublish,
      peakRssReference,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
    await bench.dispose({ bucket: true });
  }
}

const RECORD_TABLES = ['sources', 'events', 'claims', 'persons'] as const;

// On its own: `node --import tsx bench/publish.ts` (BENCH_N, default 20000; BENCH_LOADER=batch|writeRevision).
if (isMain(import.meta.url)) {
  const loader = process.env.BENCH_LOADER === 'writeRevision' ? 'writeRevision' : 'batch';
  await standalone((endpoints, log) => runPublishBench(endpoints, { n: envInt('BENCH_N', 20000), loader, log }));
}
