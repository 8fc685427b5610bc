/**
 * Ingest benchmark. REFERENCE: raw DynamoDB BatchWriteItem (25 items per request, 16 requests in flight:
 * the pipeline's WRITE_CONCURRENCY) of N items, each as large as the head + revision items our store
 * writes for that record. OURS: the same N records (a) through ingestRecords directly on the DynamoDB
 * store and (b) over HTTP through the local API server (POST /records, NDJSON, 1000 per request), then
 * the same records again (all unchanged: reads only). Every phase runs on a fresh, empty table of the
 * project's shape, so no phase pays for another's data; the reference runs before and after ours, to
 * show drift of the DynamoDB Local JVM.
 */
import { randomBytes } from 'node:crypto';
import { BatchGetCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { startApiServer } from '../local/api-server.ts';
import { ingestRecords } from '../pipeline/ingest-records.ts';
import { registerBootstrapKey } from '../pipeline/manage-keys.ts';
import { systemClock, type Principal, type RecordStore } from '../pipeline/ports.ts';
import { documentClient, keys } from '../storage/dynamodb-table.ts';
import type { SubmitResult } from '../schemas/api.ts';
import { generateRecords, mixFor, validateSample } from './records.ts';
import { MemoryRecordStore, TimedRecordStore, batchWrite, batches, benchContext, fmt, headItem, itemBytes, pool, revisionItem, table, type Endpoints, type Log } from './support.ts';

export interface IngestBenchOptions {
  n: number;
  batch?: number;
  /** Requests in flight for the reference (16 = the pipeline's WRITE_CONCURRENCY). */
  refConcurrency?: number;
  log: Log;
}

export interface IngestBenchResult {
  n: number;
  report: string;
  /** Ours ÷ reference, per record and per item. */
  ratios: { directPerRecord: number; directPerItem: number; httpPerRecord: number; httpPerItem: number };
  referenceItemsPerSecond: number;
  directRecordsPerSecond: number;
  httpRecordsPerSecond: number;
}

type Item = Record<string, unknown>;
const EDITOR: Principal = { keyId: 'key_bench_editor', role: 'editor' };

/** BatchGetItem (consistent) of the head items of `ids`, 100 per request, `concurrency` in flight. Returns ms. */
async function batchGetHeads(ctxDynamo: Parameters<typeof documentClient>[0], tableName: string, ids: string[], concurrency: number): Promise<number> {
  const db = documentClient(ctxDynamo);
  const t0 = performance.now();
  let found = 0;
  await pool(batches(ids, 100), concurrency, async (chunk) => {
    let request: Record<string, { Keys: Item[]; ConsistentRead: boolean }> | undefined = { [tableName]: { Keys: chunk.map((id) => keys.head(id)), ConsistentRead: true } };
    for (let attempt = 0; request && Object.keys(request).length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
      const out = await db.send(new BatchGetCommand({ RequestItems: request }));
      found += out.Responses?.[tableName]?.length ?? 0;
      request = out.UnprocessedKeys as typeof request;
    }
  });
  if (found !== ids.length) throw new Error(`reference read found ${found} of ${ids.length} heads`);
  return performance.now() - t0;
}

/** ingestRecords over `records` in batches; checks every record got `expect`. Returns ms. */
async function ingestAll(records: ReadonlyArray<unknown>, batch: number, store: RecordStore, expect: 'created' | 'unchanged'): Promise<number> {
  const t0 = performance.now();
  for (const chunk of batches(records, batch)) {
    const out = await ingestRecords(chunk, EDITOR, { records: store, clock: systemClock });
    checkResult(out, chunk.length, expect);
  }
  return performance.now() - t0;
}

function checkResult(out: SubmitResult, expected: number, status: 'created' | 'unchanged'): void {
  const wrong = out.results.filter((r) => r.status !== status);
  if (out.results.length !== expected || wrong.length > 0) {
    throw new Error(`expected ${expected} × ${status}, got ${out.accepted} accepted / ${out.rejected} rejected; first: ${JSON.stringify(wrong[0]).slice(0, 500)}`);
  }
}

export async function runIngestBench(endpoints: Endpoints, opts: IngestBenchOptions): Promise<IngestBenchResult> {
  const { n, log } = opts;
  const batch = opts.batch ?? 1000;
  const refConcurrency = opts.refConcurrency ?? 16;
  const counts = mixFor(n);
  const records = generateRecords(counts);
  const checked = validateSample(records);
  const avgRecord = records.reduce((s: number, r) => s + Buffer.byteLength(JSON.stringify(r)), 0) / n;
  log(`ingest: ${n} records (${counts.sources} sources, ${counts.events} events, ${counts.claims} claims, ${counts.persons} persons; ${fmt(avgRecord)} B of JSON each on average); ${checked} sampled records valid`);

  // The exact heads and revisions our pipeline writes, built against an in-memory store: this is also
  // the pipeline's own CPU cost (validation, hashing, reference checks) with no database at all.
  const memory = new MemoryRecordStore();
  const cpuMs = await ingestAll(records, batch, memory, 'created');
  const heads = [...memory.heads.values()];
  const revById = new Map(memory.revisions.map((r) => [r.id, r]));
  const pairs = heads.map((h) => ({ head: headItem(h), revision: revisionItem(revById.get(h.id)!) }));
  // Reference item: one per record, carrying the head's and the revision's attributes (same bytes).
  const merged = pairs.map(({ head, revision }) => {
    const item: Item = { ...head };
    for (const [k, v] of Object.entries(revision)) if (k !== 'pk' && k !== 'sk') item[`r_${k}`] = v;
    return item;
  });
  const oursBytes = pairs.reduce((s, p) => s + itemBytes(p.head) + itemBytes(p.revision), 0) / n;
  const refBytes = merged.reduce((s: number, it) => s + itemBytes(it), 0) / n;
  log(`ingest: pipeline CPU only (in-memory store): ${fmt(cpuMs)} ms; stored bytes per record: ours head+revision ${fmt(oursBytes)} B, reference item ${fmt(refBytes)} B`);

  const rows: string[][] = [];
  const rate = (count: number, ms: number) => count / (ms / 1000);

  // Warm-up (not timed): the JVM behind DynamoDB Local compiles its hot paths on first use.
  {
    const warm = await benchContext(endpoints, 'warm');
    try {
      await batchWrite(warm.ctx.dynamodb, warm.tableName, merged.slice(0, Math.min(n, 1000)).map((it, i) => ({ ...it, pk: `WARM#${i}` })), refConcurrency);
      await ingestAll(records.slice(0, Math.min(n, 500)), batch, warm.ctx.records, 'created');
      await ingestAll(records.slice(0, Math.min(n, 500)), batch, warm.ctx.records, 'unchanged');
    } finally {
      await warm.dispose();
    }
    log('ingest: warm-up done (1000 raw items, 500 records ingested and resubmitted; not timed)');
  }

  const reference = async (label: string, items: Item[]): Promise<number> => {
    const c = await benchContext(endpoints, 'ref');
    try {
      const ms = await batchWrite(c.ctx.dynamodb, c.tableName, items, refConcurrency);
      log(`ingest: ${label}: ${items.length} items in ${fmt(ms)} ms (${fmt(rate(items.length, ms))} items/s)`);
      return ms;
    } finally {
      await c.dispose();
    }
  };

  const ref1Before = await reference('reference BatchWriteItem, 1 item per record (before)', merged);
  const ref2 = await reference('reference BatchWriteItem, exact head + revision items', pairs.flatMap((p) => [p.head, p.revision]));

  // (a) ingestRecords directly, on the DynamoDB store.
  const direct = await benchContext(endpoints, 'direct');
  let directMs: number;
  let resubmitDirectMs: number;
  let readRefMs: number;
  let storeStats: string;
  let resubmitStats: string;
  try {
    const timed = new TimedRecordStore(direct.ctx.records);
    directMs = await ingestAll(records, batch, timed, 'created');
    storeStats = timed.summary();
    log(`ingest: ours, ingestRecords direct: ${fmt(directMs)} ms (${fmt(rate(n, directMs))} records/s); store calls: ${storeStats}`);
    // The reference items are sized from our own objects: check a few against what the store wrote.
    const db = documentClient(direct.ctx.dynamodb);
    let storedBytes = 0;
    let builtBytes = 0;
    for (const i of [0, Math.floor(n / 2), n - 1]) {
      const p = pairs[i]!;
      for (const item of [p.head, p.revision]) {
        const got = await db.send(new GetCommand({ TableName: direct.tableName, Key: { pk: item.pk, sk: item.sk } }));
        storedBytes += itemBytes(got.Item);
        builtBytes += itemBytes(item);
      }
    }
    log(`ingest: size check: 6 stored items ${storedBytes} B vs the same items built for the reference ${builtBytes} B`);

    const timedAgain = new TimedRecordStore(direct.ctx.records);
    resubmitDirectMs = await ingestAll(records, batch, timedAgain, 'unchanged');
    resubmitStats = timedAgain.summary();
    log(`ingest: ours, resubmission direct (all unchanged): ${fmt(resubmitDirectMs)} ms (${fmt(rate(n, resubmitDirectMs))} records/s); store calls: ${resubmitStats}`);
    readRefMs = await batchGetHeads(direct.ctx.dynamodb, direct.tableName, heads.map((h) => h.id), refConcurrency);
    log(`ingest: reference BatchGetItem (consistent) of the ${n} heads: ${fmt(readRefMs)} ms (${fmt(rate(n, readRefMs))} items/s)`);
  } finally {
    await direct.dispose();
  }

  // (b) over HTTP, through the local API server.
  const viaHttp = await benchContext(endpoints, 'http');
  let httpMs = 0;
  let resubmitHttpMs = 0;
  try {
    const key = `rl_bench_${randomBytes(24).toString('base64url')}`;
    await registerBootstrapKey(key, viaHttp.ctx);
    const server = await startApiServer(viaHttp.ctx, { port: 0 });
    try {
      const bodies = batches(records, batch).map((chunk) => ({ count: chunk.length, body: Buffer.from(chunk.map((r) => JSON.stringify(r)).join('\n') + '\n') }));
      const largest = Math.max(...bodies.map((b) => b.body.byteLength));
      if (largest > 5 * 1024 * 1024) throw new Error(`a request body is ${largest} B, over the API's 5 MiB: lower the batch size`);
      const postAll = async (expect: 'created' | 'unchanged') => {
        const t0 = performance.now();
        for (const { count, body } of bodies) {
          const res = await fetch(`${server.url}/records`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' }, body });
          const text = await res.text();
          if (res.status !== 200) throw new Error(`POST /records answered ${res.status}: ${text.slice(0, 500)}`);
          checkResult(JSON.parse(text) as SubmitResult, count, expect);
        }
        return performance.now() - t0;
      };
      httpMs = await postAll('created');
      log(`ingest: ours, HTTP POST /records (${bodies.length} requests, largest ${fmt(largest / 1024)} KiB): ${fmt(httpMs)} ms (${fmt(rate(n, httpMs))} records/s)`);
      resubmitHttpMs = await postAll('unchanged');
      log(`ingest: ours, resubmission over HTTP (all unchanged): ${fmt(resubmitHttpMs)} ms (${fmt(rate(n, resubmitHttpMs))} records/s)`);
    } finally {
      await server.close();
    }
  } finally {
    await viaHttp.dispose();
  }

  const ref1After = await reference('reference BatchWriteItem, 1 item per record (after)', merged);

  // The table. Reference rate: mean of before and after.
  const refRate = (rate(n, ref1Before) + rate(n, ref1After)) / 2;
  const row = (label: string, ms: number, recs: number, items: number, itemsWritten: boolean, ratios = true): string[] => {
    const r = rate(recs, ms);
    const i = rate(items, ms);
    return [label, fmt(recs), (ms / 1000).toFixed(2), fmt(r), itemsWritten ? fmt(i) : '0', ratios ? (r / refRate).toFixed(2) : '', ratios && itemsWritten ? (i / refRate).toFixed(2) : ratios ? 'n/a' : ''];
  };
  rows.push(row('REFERENCE BatchWriteItem, 1 item/record (before)', ref1Before, n, n, true, false));
  rows.push(row('REFERENCE BatchWriteItem, 1 item/record (after)', ref1After, n, n, true, false));
  rows.push(row('  (same bytes as 2 items: exact head+revision)', ref2, n, 2 * n, true));
  rows.push(row('OURS (a) ingestRecords direct', directMs, n, 2 * n, true));
  rows.push(row('OURS (b) HTTP POST /records, NDJSON ×1000', httpMs, n, 2 * n, true));
  rows.push(row('OURS resubmit direct (unchanged, reads only)', resubmitDirectMs, n, 0, false));
  rows.push(row('OURS resubmit HTTP (unchanged, reads only)', resubmitHttpMs, n, 0, false));
  rows.push(row('  (reads reference: BatchGetItem of heads)', readRefMs, n, 0, false, false));
  rows.push(row('  (pipeline CPU only, in-memory store)', cpuMs, n, 2 * n, true, false));
  const report = [
    `INGEST  N=${n} records, batches of ${batch}; reference = raw BatchWriteItem, 25 items/request, ${refConcurrency} in flight (ours: ${16} records in flight, each GetItem + TransactWriteItems of 2 items)`,
    table(['phase', 'records', 'seconds', 'records/s', 'items/s', 'ratio/rec', 'ratio/item'], rows),
    `ratio/rec = ours records/s ÷ reference records/s (mean of before/after = ${fmt(refRate)} items/s, 1 item per record);`,
    `ratio/item = ours items written/s ÷ reference items/s (ours writes 2 items per record, in one transaction).`,
    `Resubmission vs the reads reference: direct ${(rate(n, resubmitDirectMs) / rate(n, readRefMs)).toFixed(2)}, HTTP ${(rate(n, resubmitHttpMs) / rate(n, readRefMs)).toFixed(2)} (ours ÷ reference records/s).`,
    `Store calls, create run: ${storeStats}. Resubmit run: ${resubmitStats}.`,
  ].join('\n');
  return {
    n,
    report,
    ratios: {
      directPerRecord: rate(n, directMs) / refRate,
      directPerItem: rate(2 * n, directMs) / refRate,
      httpPerRecord: rate(n, httpMs) / refRate,
      httpPerItem: rate(2 * n, httpMs) / refRate,
    },
    referenceItemsPerSecond: refRate,
    directRecordsPerSecond: rate(n, directMs),
    httpRecordsPerSecond: rate(n, httpMs),
  };
}
