import { BatchWriteCommand, GetCommand, QueryCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { ChangeLog, ChangeMark, DeferredEntry, RecordHead } from '../pipeline/ports.ts';
import { batchGet } from './dynamodb-record-store.ts';
import { MARK_SHARDS, keys, padMs } from './dynamodb-table.ts';

type Item = Record<string, unknown>;

/** How far ahead of the publisher's clock a cut is taken: writers' clocks may run that much ahead. */
export const CUT_SKEW_MS = 1000;

/** BatchWriteItem over any number of requests: 25 per call, unprocessed items retried with backoff. */
async function batchWrite(db: DynamoDBDocumentClient, table: string, requests: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  const chunks: Record<string, unknown>[][] = [];
  for (let i = 0; i < requests.length; i += 25) chunks.push(requests.slice(i, i + 25) as Record<string, unknown>[]);
  const writeChunk = async (chunk: Record<string, unknown>[]) => {
    let pending: Record<string, unknown>[] | undefined = chunk;
    for (let attempt = 0; pending && pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(2000, 25 * 2 ** attempt)));
      const out = await db.send(new BatchWriteCommand({ RequestItems: { [table]: pending as never } }));
      pending = out.UnprocessedItems?.[table] as Record<string, unknown>[] | undefined;
    }
  };
  // A few requests in flight: a first release of 100 k records is 4,000 of them.
  await Promise.all(Array.from({ length: Math.min(8, chunks.length) }, async () => {
    for (let c = chunks.shift(); c; c = chunks.shift()) await writeChunk(c);
  }));
}

/** The change index on DynamoDB: marks in sharded partitions, a fence item, the deferred set. */
export class DynamoDbChangeLog implements ChangeLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /**
   * Raises every shard's fence to one cut: `now + CUT_SKEW_MS`, or just above the highest fence when a
   * clock was ahead. One transaction, so the fences never disagree; a writer's transaction in flight on a
   * fence makes it conflict, and it is tried again (the writer, once fenced, marks above the cut).
   */
  async advanceCut(): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const fences = await batchGet(this.db, this.table, Array.from({ length: MARK_SHARDS }, (_, s) => keys.fence(s)));
      const highest = Math.max(0, ...fences.map((f) => Number(f.cut ?? 0)));
      // A writer whose clock runs up to CUT_SKEW_MS ahead of ours still lands in this cut or is fenced above it.
      const cut = Math.max(this.nowMs() + CUT_SKEW_MS, highest + 1);
      try {
        await this.db.send(
          new TransactWriteCommand({
            TransactItems: Array.from({ length: MARK_SHARDS }, (_, s) => ({
              Update: {
                TableName: this.table,
                Key: keys.fence(s),
                UpdateExpression: 'SET cut = :cut',
                ConditionExpression: 'attribute_not_exists(cut) OR cut < :cut',
                ExpressionAttributeValues: { ':cut': cut },
              },
            })),
          }),
        );
        return cut;
      } catch (err) {
        if (!(err instanceof TransactionCanceledException) || attempt >= 50) throw err;
        // Another publisher raised a fence meanwhile, or a writer held one: read again and retry.
        await new Promise((r) => setTimeout(r, Math.min(500, 10 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random())));
      }
    }
  }

  async *read(after: number, upTo: number): AsyncIterable<ChangeMark[]> {
    if (upTo <= after) return;
    for (let shard = 0; shard < MARK_SHARDS; shard++) {
      let start: Item | undefined;
      do {
        const out = await this.db.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
            // '$' sorts after '#': every mark of the millisecond upTo is in.
            ExpressionAttributeValues: { ':pk': keys.markShard(shard), ':lo': padMs(after + 1), ':hi': `${padMs(upTo)}$` },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        );
        const marks = (out.Items ?? []).map((it) => ({ id: it.id as string, at: Number((it.sk as string).split('#')[0]) }));
        if (marks.length > 0) yield marks;
        start = out.LastEvaluatedKey;
      } while (start);
    }
  }

  async *listDeferred(): AsyncIterable<DeferredEntry[]> {
    let start: Item | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.deferred('').pk }, ConsistentRead: true, ExclusiveStartKey: start }),
      );
      const entries = (out.Items ?? []).map((it) => ({ id: it.sk as string, reason: String(it.reason ?? ''), ...(it.held === true ? { held: true } : {}) }));
      if (entries.length > 0) yield entries;
      start = out.LastEvaluatedKey;
    } while (start);
  }

  addDeferred(entries: ReadonlyArray<DeferredEntry>): Promise<void> {
    return batchWrite(this.db, this.table, entries.map((e) => ({ PutRequest: { Item: { ...keys.deferred(e.id), reason: e.reason, held: e.held === true } } })));
  }

  removeDeferred(ids: ReadonlyArray<string>): Promise<void> {
    return batchWrite(this.db, this.table, ids.map((id) => ({ DeleteRequest: { Key: keys.deferred(id) } })));
  }

  recordFirstPublished(entries: ReadonlyArray<{ id: string; version: string | null; cut: number }>): Promise<void> {
    return batchWrite(this.db, this.table, entries.map((e) => ({ PutRequest: { Item: { ...keys.published(e.id), first_published: e.version, cut: e.cut } } })));
  }

  /**
   * A record's first release, without a write per record after any release:
   * 1. a `PUBLISHED` item (a record an earlier release held back; or written by an older publisher)
   *    counts once its release is committed (in the history with that cut; older items carry no cut);
   * 2. otherwise, a record never publishable, retracted before any release (`first_public_at` -1) or
   *    held back now has none;
   * 3. otherwise it is the first committed release whose cut is at or after the head's
   *    `first_public_at` (heads written before it existed: the approval time).
   */
  async firstPublished(heads: ReadonlyArray<RecordHead>): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const get = async (key: Item) => (await this.db.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }))).Item;
    await Promise.all(
      heads.map(async (head) => {
        const marker = await get(keys.published(head.id));
        if (marker && marker.first_published === null) return; // held back, then retracted: never published
        if (marker && typeof marker.first_published === 'string') {
          if (marker.cut === undefined || (await get(keys.releaseHistory(Number(marker.cut), marker.first_published)))) {
            found.set(head.id, marker.first_published);
            return;
          }
        }
        if (head.approved_revision === undefined) return;
        const since = head.first_public_at ?? (head.approved_updated_at ? Date.parse(head.approved_updated_at) : undefined);
        if (since === undefined || since < 0 || Number.isNaN(since)) return;
        if ((await get(keys.deferred(head.id)))?.held === true) return;
        const out = await this.db.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND sk >= :from',
            ExpressionAttributeValues: { ':pk': keys.releaseHistoryPk, ':from': padMs(since) },
            ConsistentRead: true,
            Limit: 1,
          }),
        );
        const first = out.Items?.[0];
        if (first) found.set(head.id, first.version as string);
      }),
    );
    return found;
  }
}
