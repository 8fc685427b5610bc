/**
 * Shared pieces of the benchmarks: a fresh table and bucket per phase on the local services, an
 * in-memory RecordStore (to build exactly the items our pipeline writes, and to time the pipeline's CPU
 * work alone), a call-timing wrapper for any store, an RSS sampler and a plain-text table.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DeleteObjectCommand, DeleteBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { AppContext } from '../functions/config.ts';
import { SOFTWARE_NAME, SOFTWARE_VERSION } from '../functions/config.ts';
import { dynamodbClientConfig, s3ClientConfig, startLocalServices } from '../local/services.ts';
import { canonicalJson } from '../pipeline/canonical.ts';
import type { AuditEntry, GroupWriteOutcome, RecordHead, RecordStore, RevisionEntry, RevisionWrite, WriteOptions } from '../pipeline/ports.ts';
import { PUBLISHER_TIMEOUTS, createAdapters } from '../storage/adapters.ts';
import { DynamoDbRecordStore } from '../storage/dynamodb-record-store.ts';
import { documentClient, ensureTable } from '../storage/dynamodb-table.ts';
import { ensureBucket } from '../storage/s3-bucket.ts';

export interface Endpoints {
  dynamodbEndpoint: string;
  s3Endpoint: string;
  /** The server processes (startLocalServices gives them): for CPU attribution. */
  processes?: { dynamodb: { pid?: number } };
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux): for a server process
 * that this one did not start as a worker thread. Undefined where /proc is not there.
 */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) in parentheses: state is the 3rd; utime 14th, stime 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK); Node has no binding for it). */
const CLOCK_TICKS = 100;

/** CPU seconds used by this process and by DynamoDB Local's JVM while `fn` ran, and its wall time. */
export async function cpuAttribution<T>(endpoints: Endpoints, fn: () => Promise<T>): Promise<{ value: T; wallS: number; nodeS: number; dynamodbS: number | undefined }> {
  const pid = endpoints.processes?.dynamodb.pid;
  const t0 = performance.now();
  const node0 = process.cpuUsage();
  const java0 = processCpuSeconds(pid);
  const value = await fn();
  const node = process.cpuUsage(node0);
  const java1 = processCpuSeconds(pid);
  return { value, wallS: (performance.now() - t0) / 1000, nodeS: (node.user + node.system) / 1e6, dynamodbS: java0 !== undefined && java1 !== undefined ? java1 - java0 : undefined };
}

export type Log = (line: string) => void;

export interface BenchContext {
  ctx: AppContext;
  tableName: string;
  bucketName: string;
  /** Deletes the table (frees DynamoDB Local's memory) and, if asked, empties and deletes the bucket. */
  dispose(opts?: { bucket?: boolean }): Promise<void>;
}

/** A context like test/support/stack.ts builds, on a fresh table and bucket of the project's shape. */
export async function benchContext(endpoints: Endpoints, label: string, opts: { patient?: boolean } = {}): Promise<BenchContext> {
  const suffix = `${label}-${randomBytes(3).toString('hex')}`;
  const tableName = `ledger-bench-${suffix}`;
  const bucketName = `ledger-bench-${suffix}`;
  // `patient`: the publisher's timeouts (60 s a request) for a context that loads or scans a large table
  // (a Scan page, a DeleteTable of 300 k items or the CreateTable after it exceed the API's 4 s on DynamoDB Local).
  const timeouts = opts.patient ? PUBLISHER_TIMEOUTS : undefined;
  const adapters = createAdapters({ tableName, bucketName, dynamodb: dynamodbClientConfig(endpoints.dynamodbEndpoint), s3: s3ClientConfig(endpoints.s3Endpoint), ...(timeouts ? { timeouts } : {}) });
  await ensureTable(adapters.dynamodb, tableName);
  await ensureBucket(adapters.s3, bucketName);
  const publicBaseUrl = `${endpoints.s3Endpoint}/${bucketName}`;
  const ctx: AppContext = { ...adapters, info: { name: SOFTWARE_NAME, version: SOFTWARE_VERSION, publicBaseUrl, datasetName: 'rights-ledger-bench', bucketName }, publishing: { maxDropShare: 0.01 } };
  return {
    ctx,
    tableName,
    bucketName,
    async dispose(opts = {}) {
      await adapters.dynamodb.send(new DeleteTableCommand({ TableName: tableName })).catch(() => undefined);
      if (opts.bucket) {
        let token: string | undefined;
        do {
          const out = await adapters.s3.send(new ListObjectsV2Command({ Bucket: bucketName, ContinuationToken: token }));
          for (const o of out.Contents ?? []) if (o.Key) await adapters.s3.send(new DeleteObjectCommand({ Bucket: bucketName, Key: o.Key }));
          token = out.IsTruncated ? out.NextContinuationToken : undefined;
        } while (token);
        await adapters.s3.send(new DeleteBucketCommand({ Bucket: bucketName })).catch(() => undefined);
      }
      adapters.dynamodb.destroy();
      adapters.s3.destroy();
    },
  };
}

/**
 * A RecordStore in a Map, with the same optimistic-lock contract as the DynamoDB one. It keeps every
 * written head and revision, so a run of ingestRecords against it yields the very objects our pipeline
 * hands to DynamoDB. It keeps no change index (the benchmarks that need one use the real store).
 */
export class MemoryRecordStore implements RecordStore {
  readonly heads = new Map<string, RecordHead>();
  readonly revisions: RevisionEntry[] = [];

  async getHead(id: string): Promise<RecordHead | undefined> {
    return this.heads.get(id);
  }
  async getHeads(ids: ReadonlyArray<string>): Promise<Map<string, RecordHead>> {
    const out = new Map<string, RecordHead>();
    for (const id of ids) {
      const h = await this.getHead(id);
      if (h) out.set(id, h);
    }
    return out;
  }
  async writeRevision(head: RecordHead, revision: RevisionEntry, _opts: WriteOptions): Promise<boolean> {
    if ((this.heads.get(head.id)?.version ?? 0) !== head.version - 1) return false;
    this.heads.set(head.id, head);
    this.revisions.push(revision);
    return true;
  }
  async updateHead(head: RecordHead, _audit: AuditEntry, _opts: WriteOptions): Promise<boolean> {
    if ((this.heads.get(head.id)?.version ?? 0) !== head.version - 1) return false;
    this.heads.set(head.id, head);
    return true;
  }
  async listRevisions(id: string): Promise<RevisionEntry[]> {
    return this.revisions.filter((r) => r.id === id);
  }
  async ping(): Promise<void> {}
  async listAudit(): Promise<AuditEntry[]> {
    return [];
  }
  async *scanHeads(): AsyncIterable<RecordHead[]> {
    yield [...this.heads.values()];
  }
  async isEmpty(): Promise<boolean> {
    return this.heads.size === 0;
  }
}

type Item = Record<string, unknown>;

/**
 * The DynamoDB items the store writes for a new record (head, revision, listing entries), taken from
 * the store's own transaction: a DynamoDbRecordStore on a client that records what it is sent and
 * answers success. So the bulk loader and the ingest reference write exactly what the store would
 * (minus its conditions, which only matter under concurrency), whatever its key design becomes;
 * {@link checkItemShape} compares them with a real write.
 */
export async function storeItems(head: RecordHead, revision: RevisionEntry): Promise<Item[]> {
  const items: Item[] = [];
  const recorder = {
    async send(command: { input: unknown }) {
      const input = command.input as { TransactItems?: Array<Record<string, { Item?: Item }>>; RequestItems?: Record<string, Array<{ PutRequest?: { Item: Item } }>> };
      for (const action of input.TransactItems ?? []) {
        if (!action.Put?.Item) throw new Error(`the store's write of ${head.id} holds a ${Object.keys(action).join()} the bench cannot load in bulk`);
        items.push(stripUndefined({ ...action.Put.Item }));
      }
      for (const requests of Object.values(input.RequestItems ?? {})) for (const r of requests) if (r.PutRequest) items.push(stripUndefined({ ...r.PutRequest.Item }));
      return {};
    },
  };
  const store = new DynamoDbRecordStore(recorder as unknown as DynamoDBDocumentClient, 'bench-capture');
  if (!(await store.writeRevision(head, revision, { publishChanged: false }))) throw new Error(`the store refused ${head.id}`);
  return items;
}

/**
 * Writes one record through the real store (one transaction, no mark), reads every item of its
 * partition back, and throws unless they are exactly the items {@link storeItems} gives for it.
 */
export async function checkItemShape(client: DynamoDBClient, tableName: string, store: RecordStore, head: RecordHead, revision: RevisionEntry): Promise<void> {
  const built = (await storeItems(head, revision)).map(canonicalJson).sort();
  if (!(await store.writeRevision(head, revision, { publishChanged: false }))) throw new Error(`the store refused ${head.id}`);
  const out = await documentClient(client).send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': built.length > 0 ? (JSON.parse(built[0]!) as Item).pk : '' }, ConsistentRead: true }));
  const stored = (out.Items ?? []).map(canonicalJson).sort();
  if (stored.join('\n') !== built.join('\n')) {
    throw new Error(`the bench builds the items of ${head.id} unlike the store:\n  store ${stored.join('\n        ').slice(0, 1500)}\n  bench ${built.join('\n        ').slice(0, 1500)}`);
  }
}

function stripUndefined(item: Item): Item {
  for (const k of Object.keys(item)) if (item[k] === undefined) delete item[k];
  return item;
}

/** DynamoDB's item size rule, near enough: attribute names plus values (strings UTF-8, numbers ~digits/2+1). */
export function itemBytes(value: unknown, name = ''): number {
  const n = Buffer.byteLength(name);
  if (value === null || value === undefined) return n + 1;
  if (typeof value === 'string') return n + Buffer.byteLength(value);
  if (typeof value === 'number') return n + Math.ceil(String(value).replace(/[-.]/g, '').length / 2) + 1;
  if (typeof value === 'boolean') return n + 1;
  if (Array.isArray(value)) return n + 3 + value.reduce((s: number, v) => s + 1 + itemBytes(v), 0);
  return n + 3 + Object.entries(value as Record<string, unknown>).reduce((s, [k, v]) => s + 1 + itemBytes(v, k), 0);
}

/** Call counts and total latency per RecordStore method (latency sums overlap under concurrency). */
export class TimedRecordStore implements RecordStore {
  readonly stats = new Map<string, { calls: number; ms: number }>();
  constructor(private readonly inner: RecordStore) {
    const grouped = inner.writeRevisions?.bind(inner);
    if (grouped) this.writeRevisions = (writes) => this.time('writeRevisions', () => grouped(writes));
  }
  private async time<T>(name: string, f: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      const s = this.stats.get(name) ?? { calls: 0, ms: 0 };
      s.calls++;
      s.ms += performance.now() - t0;
      this.stats.set(name, s);
    }
  }
  getHead(id: string) {
    return this.time('getHead', () => this.inner.getHead(id));
  }
  getHeads(ids: ReadonlyArray<string>) {
    return this.time('getHeads', () => this.inner.getHeads(ids));
  }
  writeRevision(head: RecordHead, revision: RevisionEntry, opts: WriteOptions, previous?: RecordHead) {
    return this.time('writeRevision', () => this.inner.writeRevision(head, revision, opts, previous));
  }
  /** The grouped write, when the inner store has one: without it the pipeline would write record by record. */
  readonly writeRevisions?: (writes: ReadonlyArray<RevisionWrite>) => Promise<GroupWriteOutcome[]>;
  updateHead(head: RecordHead, audit: AuditEntry, opts: WriteOptions, previous?: RecordHead) {
    return this.time('updateHead', () => this.inner.updateHead(head, audit, opts, previous));
  }
  listRevisions(id: string) {
    return this.inner.listRevisions(id);
  }
  ping() {
    return this.inner.ping();
  }
  listAudit(id: string) {
    return this.inner.listAudit(id);
  }
  isEmpty() {
    return this.time('isEmpty', () => this.inner.isEmpty());
  }
  /** Pages pass through untouched; `scanPage` counts them and the time spent waiting for each. */
  async *scanHeads(segments: number): AsyncIterable<RecordHead[]> {
    const it = this.inner.scanHeads(segments)[Symbol.asyncIterator]();
    for (;;) {
      const next = await this.time('scanPage', () => it.next());
      if (next.done) return;
      this.scannedHeads += next.value.length;
      yield next.value;
    }
  }
  scannedHeads = 0;
  summary(): string {
    return [...this.stats].map(([k, s]) => `${k} ${s.calls} calls, mean ${(s.ms / s.calls).toFixed(1)} ms`).join('; ');
  }
}

/** Calls of one port method: how many, their summed latency, when the first started and the last ended. */
export interface CallStats {
  calls: number;
  ms: number;
  first: number;
  last: number;
}

/**
 * The same port, with every method that returns a promise timed into `stats` under `<label>.<method>`
 * (performance.now() clock). Methods that return anything else (async iterables) pass through untimed.
 */
export function timedPort<T extends object>(target: T, stats: Map<string, CallStats>, label: string): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value: unknown = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const out: unknown = (value as (...a: unknown[]) => unknown).apply(obj, args);
        if (!(out instanceof Promise)) return out;
        return out.finally(() => {
          const now = performance.now();
          const key = `${label}.${String(prop)}`;
          const s = stats.get(key) ?? { calls: 0, ms: 0, first: t0, last: now };
          s.calls++;
          s.ms += now - t0;
          s.last = Math.max(s.last, now);
          stats.set(key, s);
        });
      };
    },
  });
}

/** Samples this process's RSS every `everyMs` while running; `peak` is the highest sample (bytes). */
export class RssSampler {
  peak = process.memoryUsage().rss;
  private readonly timer: NodeJS.Timeout;
  constructor(everyMs = 20) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }
  sample(): void {
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
  }
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return this.peak;
  }
}

export function batches<T>(xs: ReadonlyArray<T>, size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** BatchWriteItem of `items`, 25 per request, `concurrency` in flight, unprocessed items retried. Returns ms. */
export async function batchWrite(client: DynamoDBClient, tableName: string, items: Array<Record<string, unknown>>, concurrency: number): Promise<number> {
  const db = documentClient(client);
  const t0 = performance.now();
  await pool(batches(items, 25), concurrency, async (chunk) => {
    type Request = Record<string, Array<{ PutRequest: { Item: Record<string, unknown> } }>>;
    let request: Request | undefined = { [tableName]: chunk.map((Item) => ({ PutRequest: { Item } })) };
    for (let attempt = 0; request && (request[tableName]?.length ?? 0) > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
      const out = await db.send(new BatchWriteCommand({ RequestItems: request }));
      request = out.UnprocessedItems as Request | undefined;
    }
  });
  return performance.now() - t0;
}

/** The machine's load averages (1, 5, 15 min), for the report: other work on the machine skews every figure. */
export const loadavg = () => os.loadavg().map((l) => l.toFixed(1)).join(' / ');

/** Runs `worker` over `items` with at most `concurrency` in flight. */
export async function pool<T>(items: ReadonlyArray<T>, concurrency: number, worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async () => {
    while (next < items.length) await worker(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, run));
}

/** The median of `xs` (the mean of the middle two when their number is even). */
export function median(xs: ReadonlyArray<number>): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export const seconds = (ms: number) => ms / 1000;
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
export const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits).replace(/\B(?=(\d{3})+(?!\d))/g, digits === 0 ? ',' : '') : '—');

/** A plain-text table: the first `left` columns left-aligned, the rest right-aligned. */
export function table(header: string[], rows: string[][], left = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The integer in env `name`, or `fallback`. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

/** True when the module at `moduleUrl` is the script node was started with. */
export const isMain = (moduleUrl: string) => process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(moduleUrl);

/**
 * Runs one benchmark on its own (`node --import tsx bench/ingest.ts`): local services started here and
 * always stopped, the report printed, exit code 0 or 1.
 */
export async function standalone(run: (endpoints: Endpoints, log: Log) => Promise<{ report: string }>): Promise<void> {
  const t0 = performance.now();
  const log: Log = (line) => process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  const services = await startLocalServices({ log });
  try {
    const { report } = await run(services, log);
    process.stdout.write(`\n${report}\nload average (1/5/15 min): ${loadavg()} on ${os.availableParallelism()} cores\n`);
    process.exitCode = 0;
  } catch (err) {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  } finally {
    await services.stop();
  }
}
