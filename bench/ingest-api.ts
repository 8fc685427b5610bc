/**
 * Benchmark id 1: ingest through the API. N generated records (bench/records.ts, the realistic mix) go
 * through `POST /records` of the local API server (the real handler, sealing on: the deployment's
 * sealer with this process's key) as NDJSON bodies, from 4 concurrent clients, into a fresh table of
 * DynamoDB Local. References point at earlier records, so the bodies go in dependency waves as a bulk
 * loader sends them (sources, then events, then claims and persons); within a wave the 4 clients take
 * bodies of up to 1,000 records from one queue (a wave smaller than 4,000 records is cut into 4 bodies).
 * Every record must come back `created`.
 *
 * REFERENCE: BatchWriteItem (25 items a request, 4 requests in flight) of exactly the items the ingest
 * wrote, read back by a Scan of the ingested table (less the items that were there before: the API
 * key), to a fresh table of the same server. Figure: our records/s ÷ the reference's records/s (the
 * same records' items), target ≥ 0.5 (a floor). A warm-up (not timed) of both precedes: the JVM behind
 * DynamoDB Local compiles its hot paths only after some thousands of requests.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { startApiServer } from '../local/api-server.ts';
import { dynamodbClientConfig } from '../local/services.ts';
import { registerBootstrapKey } from '../pipeline/manage-keys.ts';
import type { SubmitResult } from '../schemas/api.ts';
import { documentClient } from '../storage/dynamodb-table.ts';
import { generateRecords, mixFor, validateSample } from './records.ts';
import { batchWrite, batches, benchContext, cpuAttribution, envInt, fmt, isMain, pool, standalone, type Endpoints, type Log } from './support.ts';

type Item = Record<string, unknown>;
const CLIENTS = 4;
const MAX_BATCH = 1000;

/** CPU seconds spent while a phase ran: this process (the API server, its handlers and the clients) and DynamoDB Local's JVM. */
export interface CpuShare {
  wallS: number;
  nodeS: number;
  dynamodbS: number | undefined;
}

export interface IngestApiBenchResult {
  /** Where the time went, ours and the reference's (the profile behind a missed target). */
  cpu: { ours: CpuShare; reference: CpuShare };
  n: number;
  ms: number;
  /** Bodies sent again after a 503. */
  retries: number;
  items: number;
  referenceMs: number;
  /** ours records/s ÷ reference records/s. */
  ratio: number;
  report: string;
}

/**
 * The bench's own client: 60 s a request. The API's clients give up after 4 s, which a loaded DynamoDB
 * Local exceeds on a Scan page; the handlers keep theirs (a 503 there is answered by the client's retry).
 */
const patient = (endpoints: Endpoints) => new DynamoDBClient({ ...dynamodbClientConfig(endpoints.dynamodbEndpoint), requestHandler: { requestTimeout: 60_000 } });

/** Every item of the table, by a paginated Scan (consistent). */
async function scanAll(client: DynamoDBClient, tableName: string): Promise<Item[]> {
  const db = documentClient(client);
  const out: Item[] = [];
  let start: Item | undefined;
  do {
    const page = await db.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, ConsistentRead: true }));
    out.push(...((page.Items ?? []) as Item[]));
    start = page.LastEvaluatedKey as Item | undefined;
  } while (start);
  return out;
}

const keyOf = (item: Item) => `${String(item.pk)}\u0000${String(item.sk)}`;

/** The records as NDJSON bodies, in dependency waves: sources; events; claims and persons. */
export function waveBodies(records: ReadonlyArray<Record<string, unknown>>, clients = CLIENTS, maxBatch = MAX_BATCH): Buffer[][] {
  const waves = [['source'], ['event'], ['claim', 'person']].map((kinds) => records.filter((r) => kinds.includes(r.kind as string)));
  return waves
    .filter((w) => w.length > 0)
    .map((w) => {
      const size = Math.min(maxBatch, Math.ceil(w.length / clients));
      return batches(w, size).map((chunk) => Buffer.from(chunk.map((r) => JSON.stringify(r)).join('\n') + '\n'));
    });
}

/**
 * Posts the waves' bodies with `clients` in flight. A 503 (the store did not answer in time: a loaded
 * DynamoDB Local can exceed the API's 4 s request timeout) is answered as API.md tells a client: wait
 * Retry-After, send the whole body again (safe: what was stored comes back `unchanged`). Every record
 * must end `created` or, after a retry, `unchanged`. Returns ms and the retries.
 */
async function postWaves(endpoints: Endpoints, url: string, key: string, waves: Buffer[][]): Promise<{ ms: number; retries: number; cpu: CpuShare }> {
  const { value, ...cpu } = await cpuAttribution(endpoints, () => postAll(url, key, waves));
  return { ...value, cpu };
}

async function postAll(url: string, key: string, waves: Buffer[][]): Promise<{ ms: number; retries: number }> {
  const t0 = performance.now();
  let retries = 0;
  for (const bodies of waves) {
    await pool(bodies, CLIENTS, async (body) => {
      for (let attempt = 0; ; attempt++) {
        const res = await fetch(`${url}/records`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' }, body });
        const text = await res.text();
        if (res.status === 503 && attempt < 10) {
          retries++;
          await new Promise((r) => setTimeout(r, 1000 * Math.min(5, Number(res.headers.get('retry-after') ?? 1))));
          continue;
        }
        if (res.status !== 200) throw new Error(`POST /records answered ${res.status}: ${text.slice(0, 500)}`);
        const out = JSON.parse(text) as SubmitResult;
        const wrong = out.results.find((r) => r.status !== 'created' && !(attempt > 0 && r.status === 'unchanged'));
        if (wrong) throw new Error(`POST /records: ${out.accepted} accepted, ${out.rejected} rejected; first: ${JSON.stringify(wrong).slice(0, 500)}`);
        return;
      }
    });
  }
  return { ms: performance.now() - t0, retries };
}

/** Ingests `records` over HTTP into a fresh table; returns the time and the items the ingest wrote. */
async function ingestOverHttp(endpoints: Endpoints, records: ReadonlyArray<Record<string, unknown>>, label: string): Promise<{ ms: number; retries: number; cpu: CpuShare; items: Item[] }> {
  const c = await benchContext(endpoints, label);
  const client = patient(endpoints);
  try {
    const key = `rl_bench_${randomBytes(24).toString('base64url')}`;
    await registerBootstrapKey(key, c.ctx);
    const before = new Set((await scanAll(client, c.tableName)).map(keyOf));
    const server = await startApiServer(c.ctx, { port: 0 });
    let posted: { ms: number; retries: number; cpu: CpuShare };
    try {
      posted = await postWaves(endpoints, server.url, key, waveBodies(records));
    } finally {
      await server.close();
    }
    const items = (await scanAll(client, c.tableName)).filter((it) => !before.has(keyOf(it)));
    return { ...posted, items };
  } finally {
    client.destroy();
    await c.dispose();
  }
}

/** BatchWriteItem of `items` into a fresh table, `CLIENTS` requests in flight. Returns ms. */
async function reference(endpoints: Endpoints, items: Item[], label: string): Promise<{ ms: number; cpu: CpuShare }> {
  const c = await benchContext(endpoints, label);
  const client = patient(endpoints);
  try {
    const { value: ms, ...cpu } = await cpuAttribution(endpoints, () => batchWrite(client, c.tableName, items, CLIENTS));
    const stored = await scanAll(client, c.tableName);
    if (stored.length !== items.length) throw new Error(`reference: ${stored.length} items stored of ${items.length}`);
    return { ms, cpu };
  } finally {
    client.destroy();
    await c.dispose();
  }
}

function cpuLine(c: CpuShare, n: number): string {
  const perRecord = (s: number) => `${fmt((s * 1e6) / n)} µs a record`;
  const java = c.dynamodbS === undefined ? 'DynamoDB Local not measured (no /proc)' : `DynamoDB Local's JVM ${fmt(c.dynamodbS, 1)} s (${fmt((100 * c.dynamodbS) / c.wallS)} % of one core; ${perRecord(c.dynamodbS)})`;
  return `${fmt(c.wallS, 1)} s wall; ${java}; this process (API server, handlers, clients) ${fmt(c.nodeS, 1)} s (${fmt((100 * c.nodeS) / c.wallS)} %; ${perRecord(c.nodeS)})`;
}

/** `warm`: records of the warm-up (default n/10, at least 400, at most 2,000). */
export async function runIngestApiBench(endpoints: Endpoints, opts: { n: number; warm?: number; log: Log }): Promise<IngestApiBenchResult> {
  const { n, log } = opts;
  const counts = mixFor(n);
  const records = generateRecords(counts, 20261101);
  validateSample(records);
  const warm = generateRecords(mixFor(opts.warm ?? Math.max(400, Math.min(2000, Math.round(n / 10)))), 20261102);
  const w = await ingestOverHttp(endpoints, warm, 'warm1');
  await reference(endpoints, w.items, 'warm1ref');
  log(`1: warm-up (not timed): ${fmt(warm.length)} records over HTTP (${fmt(w.ms)} ms) and their ${fmt(w.items.length)} items by BatchWriteItem`);

  const ours = await ingestOverHttp(endpoints, records, 'api');
  const rate = (ms: number) => n / (ms / 1000);
  log(`1: OURS ${fmt(n)} records (${counts.sources} sources, ${counts.events} events, ${counts.claims} claims, ${counts.persons} persons) through POST /records, ${CLIENTS} clients: ${fmt(ours.ms)} ms (${fmt(rate(ours.ms))} records/s); ${fmt(ours.items.length)} items written (${fmt(ours.items.length / n, 2)} a record); ${ours.retries} bodies sent again after a 503`);
  const ref = await reference(endpoints, ours.items, 'apiref');
  const refMs = ref.ms;
  log(`1: REFERENCE BatchWriteItem of those ${fmt(ours.items.length)} items, ${CLIENTS} in flight: ${fmt(refMs)} ms (${fmt(rate(refMs))} records/s, ${fmt(ours.items.length / (refMs / 1000))} items/s)`);
  const ratio = rate(ours.ms) / rate(refMs);
  const report = [
    `INGEST THROUGH THE API (id 1)  N=${fmt(n)} records, POST /records NDJSON, ${CLIENTS} concurrent clients, sealing on`,
    `  ours: ${fmt(ours.ms / 1000, 1)} s, ${fmt(rate(ours.ms))} records/s; ${fmt(ours.items.length)} items written; ${ours.retries} bodies sent again after a 503`,
    `  reference (BatchWriteItem of exactly those items, ${CLIENTS} in flight): ${fmt(refMs / 1000, 1)} s, ${fmt(rate(refMs))} records/s`,
    `  ratio (ours ÷ reference, records/s): ${ratio.toFixed(3)} (target ≥ 0.5)`,
    `  where the time went (CPU seconds over the phase's wall time, ${os.availableParallelism()} cores):`,
    `    ours:      ${cpuLine(ours.cpu, n)}`,
    `    reference: ${cpuLine(ref.cpu, n)}`,
  ].join('\n');
  return { cpu: { ours: ours.cpu, reference: ref.cpu }, n, ms: ours.ms, retries: ours.retries, items: ours.items.length, referenceMs: refMs, ratio, report };
}

// On its own: `node --import tsx bench/ingest-api.ts` (BENCH_N, default 20000).
if (isMain(import.meta.url)) await standalone((endpoints, log) => runIngestApiBench(endpoints, { n: envInt('BENCH_N', 20_000), log }));
