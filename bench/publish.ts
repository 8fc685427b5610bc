/**
 * Benchmark 3: a full publish (`publishRelease(deps, { full: true })`) of N records against the same
 * work done by hand.
 *
 * Seeding: N records from bench/records.ts's generator (seed 20260202: all kinds, realistic sizes,
 * Persian text) go through `ingestRecords` with an editor key against an in-memory store, which yields
 * the exact heads and revisions the pipeline writes (approved at once); the items the store's own
 * writeRevision transaction holds for each (head, revision, listing entry: captured from it) are loaded
 * into a fresh table by BatchWriteItem (DynamoDB Local runs transactions at only ~100–300/s here); one
 * record written by the store itself is read back and compared. No change marks: a full rebuild does
 * not need them. The bucket is empty, so this is a first release.
 *
 * OURS: publishRelease with `full: true`, in a child process (bench/publish-child.ts), timed from its
 * call to its return; its phases come from its progress and from timing its ports.
 * REFERENCE (same run, same table): a parallel Scan of the `heads` index with the same 4 segments, each
 * item's approved content appended as it comes (`{"revision", "updated_at", "c": <approved JSON>}`, no
 * parsing) to one NDJSON file per kind, then one DuckDB (same memory limit) that loads each file with
 * typed columns and COPYs the same rows, in id order, to Parquet (zstd, the publisher's options) and to
 * gzip NDJSON, for the same 6 tables. It skips what only the publisher does (redaction, deferral, the
 * quality gates, the diff, the manifest, the upload, the commit). The reference runs first: the first
 * pages of DynamoDB Local's scan path, while its JVM compiles it, count against the reference.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ingestRecords } from '../pipeline/ingest-records.ts';
import { LineSink } from '../pipeline/line-sink.ts';
import { systemClock } from '../pipeline/ports.ts';
import { RECORD_KINDS, type RecordKind } from '../schemas/records.ts';
import { KIND_TABLE, TABLES, duckType, type Column, type TableName } from '../schemas/tables.ts';
import { TABLE_SHAPE, documentClient } from '../storage/dynamodb-table.ts';
import { parquetOptions } from '../storage/duckdb-release-builder.ts';
import { publishInChild, type ChildPublish } from './publish-child.ts';
import { generateRecords, mixFor, validateSample } from './records.ts';
import { EDITOR } from './seed.ts';
import { MemoryRecordStore, batchWrite, benchContext, checkItemShape, fmt, storeItems, type Endpoints, type Log } from './support.ts';

const SEGMENTS = 4;
const SERVER_FIELDS = new Set(['revision', 'updated_at', 'first_published']);
const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

export interface FullPublishResult {
  n: number;
  ours: ChildPublish;
  reference: { scanMs: number; duckdbMs: number; ms: number; heads: number };
  loadSeconds: number;
}

/** Loads N records (see the file's header); returns the table's context and how long the load took. */
async function loadStore(endpoints: Endpoints, n: number, log: Log) {
  const counts = mixFor(n);
  const records = generateRecords(counts, 20260202);
  const checked = validateSample(records);
  const memory = new MemoryRecordStore();
  // Batches of 250: the generator's references are spread over the whole ledger, and a request may look
  // up only so many distinct stored records (MAX_REFERENCED_IDS).
  for (let i = 0; i < records.length; i += 250) {
    const out = await ingestRecords(records.slice(i, i + 250), EDITOR, { records: memory, clock: systemClock });
    if (out.rejected > 0) throw new Error(`the generator made ${out.rejected} record(s) the pipeline rejects: ${JSON.stringify(out.results.find((r) => r.status === 'rejected'))}`);
  }
  log(`3: ${fmt(n)} records (${counts.sources} sources, ${counts.events} events, ${counts.claims} claims, ${counts.persons} persons; ${checked} sampled valid) ingested in memory`);
  const bench = await benchContext(endpoints, 'full', { patient: true });
  const revById = new Map(memory.revisions.map((r) => [r.id, r]));
  const [first, ...heads] = [...memory.heads.values()];
  const t0 = performance.now();
  await checkItemShape(bench.ctx.dynamodb, bench.tableName, bench.ctx.records, first!, revById.get(first!.id)!);
  const items = (await Promise.all(heads.map((h) => storeItems(h, revById.get(h.id)!)))).flat();
  await batchWrite(bench.ctx.dynamodb, bench.tableName, items, 16);
  const loadSeconds = (performance.now() - t0) / 1000;
  log(`3: loaded ${fmt(items.length)} items (head, revision, listing entry per record) by BatchWriteItem in ${loadSeconds.toFixed(1)} s; not part of either measurement`);
  return { bench, loadSeconds };
}

/** The reference's parallel Scan: every head of the `heads` index, approved content appended per kind. Returns heads read. */
async function referenceScan(client: DynamoDBClient, tableName: string, dir: string): Promise<number> {
  const db = documentClient(client);
  const sinks = new Map(RECORD_KINDS.map((k) => [k, LineSink.plain(join(dir, `${k}.ndjson`))]));
  let heads = 0;
  await Promise.all(
    Array.from({ length: SEGMENTS }, async (_, segment) => {
      let start: Record<string, unknown> | undefined;
      do {
        const out = await db.send(new ScanCommand({ TableName: tableName, IndexName: TABLE_SHAPE.indexes.heads.name, Segment: segment, TotalSegments: SEGMENTS, ExclusiveStartKey: start }));
        for (const it of out.Items ?? []) {
          heads++;
          await sinks.get(it.kind as RecordKind)!.write(`{"revision":${Number(it.approved_revision)},"updated_at":${JSON.stringify(it.approved_updated_at)},"c":${it.approved as string}}`);
        }
        start = out.LastEvaluatedKey;
      } while (start);
    }),
  );
  await Promise.all([...sinks.values()].map((s) => s.close()));
  return heads;
}

/** The DuckDB type of a record's approved content, from the table's columns (their `source` paths). */
function contentType(t: TableName): string {
  const groups = new Map<string, Column[]>();
  for (const c of TABLES[t].columns) if (!SERVER_FIELDS.has(c.source[0]!)) groups.set(c.source[0]!, [...(groups.get(c.source[0]!) ?? []), c]);
  const fields = [...groups].map(([field, cols]) =>
    cols.length === 1 && cols[0]!.source.length === 1 ? `${q(field)} ${duckType(cols[0]!.type)}` : `${q(field)} STRUCT(${cols.map((c) => `${q(c.source[1]!)} ${duckType(c.type)}`).join(', ')})`,
  );
  if (t === 'events') fields.push(`"actors" STRUCT("name" VARCHAR, "actor_type" VARCHAR, "role" VARCHAR)[]`);
  return `STRUCT(${fields.join(', ')})`;
}

/** The reference's DuckDB step: the same 6 tables, Parquet and gzip NDJSON, in id order. */
async function referenceCopy(dir: string, out: string, version: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:', { memory_limit: '1GB', temp_directory: join(dir, 'duckdb'), preserve_insertion_order: 'false' });
  const db = await instance.connect();
  const parquet = parquetOptions();
  const both = async (name: string, select: string, json: string) => {
    await db.run(`COPY (${select}) TO ${lit(join(out, `${name}.parquet`))} ${parquet}`);
    await db.run(`COPY (${json}) TO ${lit(join(out, `${name}.ndjson.gz`))} (FORMAT json, COMPRESSION gzip)`);
  };
  try {
    for (const kind of RECORD_KINDS) {
      const t = KIND_TABLE[kind];
      await db.run(
        `CREATE TEMP TABLE ${q(`src_${t}`)} AS SELECT * FROM read_json(${lit(join(dir, `${kind}.ndjson`))}, format = 'newline_delimited', maximum_object_size = 67108864, columns = {revision: 'BIGINT', updated_at: 'TIMESTAMPTZ', c: ${lit(contentType(t))}})`,
      );
      const cols = TABLES[t].columns.map((c) =>
        c.name === 'first_published' ? `${lit(version)} AS first_published` : SERVER_FIELDS.has(c.name) ? q(c.name) : `c.${c.source.map(q).join('.')} AS ${q(c.name)}`,
      );
      await both(t, `SELECT ${cols.join(', ')} FROM ${q(`src_${t}`)} ORDER BY c.id`, `SELECT unnest(c), revision, updated_at, ${lit(version)} AS first_published FROM ${q(`src_${t}`)} ORDER BY c.id`);
    }
    const actors = `SELECT event_id, a.name, a.actor_type, a.role FROM (SELECT c.id AS event_id, unnest(c.actors) AS a, generate_subscripts(c.actors, 1) AS pos FROM src_events) ORDER BY event_id, pos`;
    await both('event_actors', actors, actors);
    const changes = RECORD_KINDS.map((k) => `SELECT 'add' AS op, ${lit(KIND_TABLE[k])} AS table_name, c.id AS id, revision, NULL::BIGINT AS previous_revision, NULL::VARCHAR AS reason FROM ${q(`src_${KIND_TABLE[k]}`)}`);
    const allChanges = `SELECT * FROM (${changes.join(' UNION ALL ')}) ORDER BY table_name, id`;
    await both('changes', allChanges, allChanges);
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

/** Benchmark 3 (see the file's header). */
export async function runFullPublishBench(endpoints: Endpoints, n: number, log: Log): Promise<FullPublishResult> {
  const { bench, loadSeconds } = await loadStore(endpoints, n, log);
  const work = await mkdtemp(join(tmpdir(), 'ledger-bench-full-'));
  try {
    const refDir = join(work, 'ref');
    await mkdir(join(refDir, 'out'), { recursive: true });
    const r0 = performance.now();
    const heads = await referenceScan(bench.ctx.dynamodb, bench.tableName, refDir);
    const scanMs = performance.now() - r0;
    log(`3: REFERENCE parallel Scan of the heads index (${SEGMENTS} segments): ${fmt(heads)} heads in ${(scanMs / 1000).toFixed(1)} s (${fmt(heads / (scanMs / 1000))} heads/s)`);
    if (heads !== n) throw new Error(`the reference scan read ${heads} heads, not ${n}`);
    const d0 = performance.now();
    await referenceCopy(refDir, join(refDir, 'out'), '20260101T000000Z');
    const duckdbMs = performance.now() - d0;
    log(`3: REFERENCE DuckDB load + COPY of the 6 tables to Parquet and gzip NDJSON: ${(duckdbMs / 1000).toFixed(1)} s`);
    await rm(refDir, { recursive: true, force: true });

    log(`3: OURS publishRelease({ full: true }) in a child process …`);
    const ours = await publishInChild(
      {
        dynamodbEndpoint: endpoints.dynamodbEndpoint,
        s3Endpoint: endpoints.s3Endpoint,
        tableName: bench.tableName,
        bucketName: bench.bucketName,
        datasetName: bench.ctx.info.datasetName,
        publicBaseUrl: bench.ctx.info.publicBaseUrl,
        full: true,
        maxDropShare: bench.ctx.publishing.maxDropShare,
      },
      log,
    );
    const result = ours.result;
    if (!result) {
      log(`3: OURS FAILED after ${(ours.ms / 1000).toFixed(1)} s: ${ours.error?.split('\n')[0]}`);
      return { n, ours, reference: { scanMs, duckdbMs, ms: scanMs + duckdbMs, heads }, loadSeconds };
    }
    if (!result.published) throw new Error(`the full publish published nothing: ${result.reason}`);
    const total = RECORD_KINDS.reduce((s, k) => s + result.record_counts[KIND_TABLE[k]]!, 0);
    if (total !== n || result.changes.add !== n) throw new Error(`the full publish holds ${total} records (${result.changes.add} adds), not ${n}`);
    log(`3: OURS ${(ours.ms / 1000).toFixed(1)} s, peak RSS ${fmt(ours.maxRss / 2 ** 20)} MiB`);
    return { n, ours, reference: { scanMs, duckdbMs, ms: scanMs + duckdbMs, heads }, loadSeconds };
  } finally {
    await rm(work, { recursive: true, force: true });
    await bench.dispose({ bucket: true });
  }
}
