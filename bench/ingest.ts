/**
 * Ingest benchmark. REFERENCE: raw DynamoDB BatchWriteItem (25 items per request, 16 requests in flight:
 * the pipeline's WRITE_CONCURRENCY) of N items, each as large as all the items (head, revision, listing entry) our store
 * writes for that record. OURS: the same N records (a) through ingestRecords directly on the DynamoDB
 * store and (b) over HTTP through the local API server (POST /records, NDJSON, 1000 per request), then
 * the same records again (all unchanged: reads only). Every phase runs on a fresh, empty table of the
 * project's shape, so no phase pays for another's data. After a warm-up, every phase runs in each of
 * BENCH_ROUNDS rounds (default 3; every second round in the reverse order), and the best round of each counts.
 */
import { randomBytes } from 'node:crypto';
import { BatchGetCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { startApiServer } from '../local/api-server.ts';
import { ingestRecords } from '../pipeline/ingest-records.ts';
import { canonicalJson, sha256Hex } from '../pipeline/canonical.ts';
import { registerBootstrapKey } from '../pipeline/manage-keys.ts';
import type { RecordSealer } from '../pipeline/sealing.ts';
import { systemClock, type Principal, type RecordStore } from '../pipeline/ports.ts';
import { documentClient, keys } from '../storage/dynamodb-table.ts';
import type { SubmitResult } from '../schemas/api.ts';
import { generateRecords, mixFor, validateSample } from './records.ts';
import { MemoryRecordStore, TimedRecordStore, batchWrite, batches, benchContext, envInt, fmt, isMain, standalone, itemBytes, pool, storeItems, table, type Endpoints, type Log } from './support.ts';

export interface IngestBenchOptions {
  n: number;
  batch?: number;
  /** Requests in flight for the reference (16 = the pipeline's WRITE_CONCURRENCY). */
  refConcurrency?: number;
  /** Rounds of every phase (alternating order); the best of each is reported. */
  rounds?: number;
  log: Log;
}

export interface IngestBenchResult {
  n: number;
  report: string;
  /** Ours ÷ reference, per record and per item. */
  ratios: { directPerRecord: number; directPerItem: number; httpPerRecord: number; httpPerItem: number };
  referenceItemsPerSecond: number;
  directRecordsPerSecond: number;
  /** ingestRecords with sealing on (the deployment's sealer) and off (contents stored as sent, bare SHA-256), same run. */
  sealing: { onRecordsPerSecond: number; offRecordsPerSecond: number; ratio: number; cpuOnlyRatio: number };
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

/** Sealing OFF, for the comparison only: contents stored as sent, hashes bare SHA-256 (what the store did before issue 12). */
const NO_SEALING: RecordSealer = {
  seal: async (_ref, content) => content,
  reveal: async (_ref, content) => content,
  contentMac: async (content) => sha256Hex(canonicalJson(content)),
};

/** ingestRecords over `records` in batches; checks every record got `expect`. Returns ms. */
async function ingestAll(records: ReadonlyArray<unknown>, batch: number, store: RecordStore, expect: 'created' | 'unchanged', sealer?: RecordSealer): Promise<number> {
  const t0 = performance.now();
  for (const chunk of batches(records, batch)) {
    const out = await ingestRecords(chunk, EDITOR, { records: store, clock: systemClock, sealer });
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
  const rounds = opts.rounds ?? 3;
  const counts = mixFor(n);
  const records = generateRecords(counts);
  const checked = validateSample(records);
  const avgRecord = records.reduce((s: number, r) => s + Buffer.byteLength(JSON.stringify(r)), 0) / n;
  log(`ingest: ${n} records (${counts.sources} sources, ${counts.events} events, ${counts.claims} claims, ${counts.persons} persons; ${fmt(avgRecord)} B of JSON each on average); ${checked} sampled records valid`);

  // The exact heads and revisions our pipeline writes, built against an in-memory store: this is also
  // the pipeline's own CPU cost (validation, hashing, reference checks) with no database at all.
  const memory = new MemoryRecordStore();
  const cpuMs = await ingestAll(records, batch, memory, 'created');
  // The same with sealing off: what sealing costs in CPU alone, without the database's noise.
  const cpuPlainMs = await ingestAll(records, batch, new MemoryRecordStore(), 'created', NO_SEALING);
  const heads = [...memory.heads.values()];
  const revById = new Map(memory.revisions.map((r) => [r.id, r]));
  // The items our store writes per record (head, revision, listing entry), taken from its own transaction.
  const written = await Promise.all(heads.map((h) => storeItems(h, revById.get(h.id)!)));
  const itemsPerRecord = written.reduce((s, items) => s + items.length, 0) / n;
  // Reference item: one per record, carrying the attributes of all of them (same bytes).
  const merged = written.map(([head, ...rest]) => {
    const item: Item = { ...head };
    for (const [i, other] of rest.entries()) for (const [k, v] of Object.entries(other)) if (k !== 'pk' && k !== 'sk') item[`r${i}_${k}`] = v;
    return item;
  });
  const oursBytes = written.reduce((s, items) => s + items.reduce((b: number, it) => b + itemBytes(it), 0), 0) / n;
  const refBytes = merged.reduce((s: number, it) => s + itemBytes(it), 0) / n;
  log(`ingest: pipeline CPU only (in-memory store): ${fmt(cpuMs)} ms; stored bytes per record: ours ${fmt(itemsPerRecord, 1)} items ${fmt(oursBytes)} B, reference item ${fmt(refBytes)} B`);

  const rate = (count: number, ms: number) => count / (ms / 1000);

  // Warm-up (not timed): the JVM behind DynamoDB Local compiles its hot paths (transactions especially)
  // only after a few thousand requests.
  {
    const warm = await benchContext(endpoints, 'warm');
    const w = Math.min(n, 1000);
    try {
      await batchWrite(warm.ctx.dynamodb, warm.tableName, merged.slice(0, w).map((it, i) => ({ ...it, pk: `WARM#${i}` })), refConcurrency);
      await ingestAll(records.slice(0, w), batch, warm.ctx.records, 'created');
      await ingestAll(records.slice(0, w), batch, warm.ctx.records, 'unchanged');
    } finally {
      await warm.dispose();
    }
    log(`ingest: warm-up done (${w} raw items, ${w} records ingested and resubmitted; not timed)`);
  }

  // Every phase runs once per round on fresh tables; round 2 runs the phases in the reverse order, so
  // each is measured once early and once late. The table reports the best round of each (the one least
  // disturbed by anything else on the machine) and every round's figure beside it.
  type Phase = 'ref1' | 'ref2' | 'direct' | 'resubmitDirect' | 'readRef' | 'http' | 'resubmitHttp' | 'unsealed';
  const samples: Record<Phase, number[]> = { ref1: [], ref2: [], direct: [], resubmitDirect: [], readRef: [], http: [], resubmitHttp: [], unsealed: [] };
  const storeStats: Array<{ create: string; resubmit: string }> = [];
  const tag = (round: number) => `ingest [round ${round + 1}/${rounds}]`;

  const reference = async (round: number, which: 'ref1' | 'ref2') => {
    const items = which === 'ref1' ? merged : written.flat();
    const c = await benchContext(endpoints, 'ref');
    try {
      const ms = await batchWrite(c.ctx.dynamodb, c.tableName, items, refConcurrency);
      samples[which].push(ms);
      log(`${tag(round)}: REFERENCE BatchWriteItem, ${which === 'ref1' ? '1 item per record' : 'the exact items of our store'}: ${items.length} items in ${fmt(ms)} ms (${fmt(rate(items.length, ms))} items/s)`);
    } finally {
      await c.dispose();
    }
  };

  // (a) ingestRecords directly, on the DynamoDB store; then the same again (unchanged); then the reads reference.
  const directGroup = async (round: number) => {
    const direct = await benchContext(endpoints, 'direct');
    try {
      const timed = new TimedRecordStore(direct.ctx.records);
      // Sealing ON: the deployment's sealer (AES-256-GCM envelopes, HMAC content hashes).
      const ms = await ingestAll(records, batch, timed, 'created', direct.ctx.sealer);
      samples.direct.push(ms);
      log(`${tag(round)}: OURS ingestRecords direct: ${fmt(ms)} ms (${fmt(rate(n, ms))} records/s); store calls: ${timed.summary()}`);
      if (round === 0) {
        // The reference items are sized from our own objects: check a few against what the store wrote.
        const db = documentClient(direct.ctx.dynamodb);
        let storedBytes = 0;
        let builtBytes = 0;
        for (const i of [0, Math.floor(n / 2), n - 1]) {
          for (const item of written[i]!) {
            const got = await db.send(new GetCommand({ TableName: direct.tableName, Key: { pk: item.pk, sk: item.sk } }));
            storedBytes += itemBytes(got.Item);
            builtBytes += itemBytes(item);
          }
        }
        log(`${tag(round)}: size check: the stored items of 3 records ${storedBytes} B vs the same items built for the reference ${builtBytes} B`);
      }
      const timedAgain = new TimedRecordStore(direct.ctx.records);
      const again = await ingestAll(records, batch, timedAgain, 'unchanged', direct.ctx.sealer);
      samples.resubmitDirect.push(again);
      storeStats.push({ create: timed.summary(), resubmit: timedAgain.summary() });
      log(`${tag(round)}: OURS resubmission direct (all unchanged): ${fmt(again)} ms (${fmt(rate(n, again))} records/s); store calls: ${timedAgain.summary()}`);
      const reads = await batchGetHeads(direct.ctx.dynamodb, direct.tableName, heads.map((h) => h.id), refConcurrency);
      samples.readRef.push(reads);
      log(`${tag(round)}: REFERENCE BatchGetItem (consistent) of the ${n} heads: ${fmt(reads)} ms (${fmt(rate(n, reads))} items/s)`);
    } finally {
      await direct.dispose();
    }
  };

  // (a′) the same with sealing OFF, on its own fresh table: what sealing costs is (a) against this.
  const unsealedGroup = async (round: number) => {
    const plain = await benchContext(endpoints, 'unsealed');
    try {
      const ms = await ingestAll(records, batch, plain.ctx.records, 'created', NO_SEALING);
      samples.unsealed.push(ms);
      log(`${tag(round)}: OURS ingestRecords direct, sealing OFF: ${fmt(ms)} ms (${fmt(rate(n, ms))} records/s)`);
    } finally {
      await plain.dispose();
    }
  };

  // (b) over HTTP, through the local API server; then the same again (unchanged).
  const bodies = batches(records, batch).map((chunk) => ({ count: chunk.length, body: Buffer.from(chunk.map((r) => JSON.stringify(r)).join('\n') + '\n') }));
  const largest = Math.max(...bodies.map((b) => b.body.byteLength));
  if (largest > 5 * 1024 * 1024) throw new Error(`a request body is ${largest} B, over the API's 5 MiB: lower the batch size`);
  const httpGroup = async (round: number) => {
    const viaHttp = await benchContext(endpoints, 'http');
    try {
      const key = `rl_bench_${randomBytes(24).toString('base64url')}`;
      await registerBootstrapKey(key, viaHttp.ctx);
      const server = await startApiServer(viaHttp.ctx, { port: 0 });
      try {
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
        const ms = await postAll('created');
        samples.http.push(ms);
        log(`${tag(round)}: OURS HTTP POST /records (${bodies.length} requests, largest ${fmt(largest / 1024)} KiB): ${fmt(ms)} ms (${fmt(rate(n, ms))} records/s)`);
        const again = await postAll('unchanged');
        samples.resubmitHttp.push(again);
        log(`${tag(round)}: OURS resubmission over HTTP (all unchanged): ${fmt(again)} ms (${fmt(rate(n, again))} records/s)`);
      } finally {
        await server.close();
      }
    } finally {
      await viaHttp.dispose();
    }
  };

  const order: Array<(round: number) => Promise<void>> = [(r) => reference(r, 'ref1'), (r) => reference(r, 'ref2'), directGroup, unsealedGroup, httpGroup];
  for (let round = 0; round < rounds; round++) {
    for (const phase of round % 2 === 0 ? order : [...order].reverse()) await phase(round);
  }

  // The table: best round per phase, every round beside it.
  const best = (p: Phase) => Math.min(...samples[p]);
  const refRate = rate(n, best('ref1'));
  const rows: string[][] = [];
  const row = (label: string, p: Phase, itemsPerRecord: number, ratios = true): string[] => {
    const ms = best(p);
    const r = rate(n, ms);
    const i = rate(n * itemsPerRecord, ms);
    return [
      label,
      fmt(n),
      (ms / 1000).toFixed(2),
      fmt(r),
      itemsPerRecord > 0 ? fmt(i) : '0',
      ratios ? (r / refRate).toFixed(2) : '',
      ratios && itemsPerRecord > 0 ? (i / refRate).toFixed(2) : ratios ? 'n/a' : '',
      samples[p].map((ms) => fmt(rate(n, ms))).join(' / '),
    ];
  };
  rows.push(row('REFERENCE BatchWriteItem, 1 item/record', 'ref1', 1, false));
  rows.push(row(`  (same bytes as ${fmt(itemsPerRecord, 1)} items: the exact items)`, 'ref2', itemsPerRecord));
  rows.push(row('OURS (a) ingestRecords direct (sealing on)', 'direct', itemsPerRecord));
  rows.push(row("OURS (a') the same, sealing OFF", 'unsealed', itemsPerRecord));
  rows.push(row('OURS (b) HTTP POST /records, NDJSON ×1000', 'http', itemsPerRecord));
  rows.push(row('OURS resubmit direct (unchanged, reads only)', 'resubmitDirect', 0));
  rows.push(row('OURS resubmit HTTP (unchanged, reads only)', 'resubmitHttp', 0));
  rows.push(row('  (reads reference: BatchGetItem of heads)', 'readRef', 0, false));
  rows.push([
    '  (pipeline CPU only, in-memory store)',
    fmt(n),
    (cpuMs / 1000).toFixed(2),
    fmt(rate(n, cpuMs)),
    fmt(rate(itemsPerRecord * n, cpuMs)),
    '',
    '',
    '',
  ]);
  const bestDirectRound = samples.direct.indexOf(best('direct'));
  const readRate = rate(n, best('readRef'));
  const report = [
    `INGEST  N=${n} records, batches of ${batch}, ${rounds} round(s), best round shown; reference = raw BatchWriteItem, 25 items/request, ${refConcurrency} in flight`,
    `        (ours: 16 records in flight, each one GetItem + one TransactWriteItems of ${fmt(itemsPerRecord, 1)} items)`,
    table(['phase', 'records', 'seconds', 'records/s', 'items/s', 'ratio/rec', 'ratio/item', 'records/s per round'], rows),
    `ratio/rec = ours records/s ÷ reference records/s (${fmt(refRate)}/s, 1 item per record of the same bytes as our ${fmt(itemsPerRecord, 1)});`,
    `ratio/item = ours items written/s ÷ reference items/s (ours writes ${fmt(itemsPerRecord, 1)} items per record, in one transaction).`,
    `Sealing: ingestRecords with sealing on ÷ off = ${(best('unsealed') / best('direct')).toFixed(2)} on DynamoDB Local (records/s, best rounds; target ≥ 0.9); in CPU alone (in-memory store) ${(cpuPlainMs / cpuMs).toFixed(2)} (${fmt(rate(n, cpuMs))} vs ${fmt(rate(n, cpuPlainMs))} records/s).`,
    `Resubmission vs the reads reference (${fmt(readRate)} heads/s): direct ${(rate(n, best('resubmitDirect')) / readRate).toFixed(2)}, HTTP ${(rate(n, best('resubmitHttp')) / readRate).toFixed(2)} (ours ÷ reference records/s).`,
    `Store calls in the best direct round (mean latencies overlap: 16 in flight): create: ${storeStats[bestDirectRound]!.create}; resubmit: ${storeStats[bestDirectRound]!.resubmit}.`,
  ].join('\n');
  return {
    n,
    report,
    ratios: {
      directPerRecord: rate(n, best('direct')) / refRate,
      directPerItem: rate(itemsPerRecord * n, best('direct')) / refRate,
      httpPerRecord: rate(n, best('http')) / refRate,
      httpPerItem: rate(itemsPerRecord * n, best('http')) / refRate,
    },
    referenceItemsPerSecond: refRate,
    directRecordsPerSecond: rate(n, best('direct')),
    sealing: { onRecordsPerSecond: rate(n, best('direct')), offRecordsPerSecond: rate(n, best('unsealed')), ratio: best('unsealed') / best('direct'), cpuOnlyRatio: cpuPlainMs / cpuMs },
    httpRecordsPerSecond: rate(n, best('http')),
  };
}

// On its own: `node --import tsx bench/ingest.ts` (BENCH_N, default 5000; BENCH_ROUNDS, default 3).
if (isMain(import.meta.url)) await standalone((endpoints, log) => runIngestBench(endpoints, { n: envInt('BENCH_N', 5000), rounds: envInt('BENCH_ROUNDS', 3), log }));
