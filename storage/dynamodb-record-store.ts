import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, QueryCommand, ScanCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import type { AuditEntry, RecordHead, RecordStore, RevisionEntry, WriteOptions } from '../pipeline/ports.ts';
import { MARK_RETENTION_MS } from '../pipeline/ports.ts';
import { HEAD_SHARDS, TABLE_SHAPE, keys, shardOf } from './dynamodb-table.ts';

type Item = Record<string, unknown>;
type TransactItem = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number];

/** Where a head sits in the review queue index (see dynamodb-table.ts). */
function queueKeys(h: RecordHead): { queue_pk: string; queue_sk: string } {
  const status = h.retracted ? 'retracted' : h.review_status;
  return { queue_pk: `Q#${status}#${h.kind}`, queue_sk: status === 'pending' ? `${h.pending_since ?? h.updated_at}#${h.id}` : h.id };
}

/** Contents are kept as JSON strings: exact numbers, no empty-string or nesting limits, one attribute. */
function headToItem(h: RecordHead): Item {
  // first_published is not stored on the head: it is a fact about a release, kept beside it (ChangeLog).
  const { content, approved, first_published: _fp, ...rest } = h;
  return {
    ...keys.head(h.id),
    ...rest,
    heads_pk: `H#${shardOf(h.id, HEAD_SHARDS)}`,
    ...queueKeys(h),
    content: JSON.stringify(content),
    approved: approved === undefined ? undefined : JSON.stringify(approved),
  };
}

function itemToHead(item: Item): RecordHead {
  const { pk: _pk, sk: _sk, heads_pk: _h, queue_pk: _q, queue_sk: _qs, first_published: _fp, content, approved, ...rest } = item;
  return { ...(rest as Omit<RecordHead, 'content' | 'approved'>), content: JSON.parse(content as string), approved: approved === undefined ? undefined : JSON.parse(approved as string) };
}

/** How often a transaction is tried again when it lost a race on the fence or met a concurrent transaction. */
const FENCE_ATTEMPTS = 20;

/** RecordStore on DynamoDB: a head item per record plus one item per revision and per audit entry. */
export class DynamoDbRecordStore implements RecordStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    /** The store's clock for change marks (ms); the fence compares marks with it, so it is the same clock. */
    private readonly nowMs: () => number = Date.now,
  ) {}

  async getHead(id: string): Promise<RecordHead | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: keys.head(id), ConsistentRead: true }));
    return out.Item ? itemToHead(out.Item) : undefined;
  }

  async getHeads(ids: ReadonlyArray<string>): Promise<Map<string, RecordHead>> {
    const found = new Map<string, RecordHead>();
    for (const item of await batchGet(this.db, this.table, ids.map((id) => keys.head(id)))) {
      const head = itemToHead(item);
      found.set(head.id, head);
    }
    return found;
  }

  private condition(version: number) {
    return version === 1
      ? { ConditionExpression: 'attribute_not_exists(pk)' }
      : { ConditionExpression: '#v = :v', ExpressionAttributeNames: { '#v': 'version' }, ExpressionAttributeValues: { ':v': version - 1 } };
  }

  /**
   * Runs `items` (the head put first) as one transaction. With `mark`, the transaction also appends a
   * change mark and checks the publish fence: a mark must be later than the cut of any publish that has
   * started, so a publish that raised the fence has already seen every mark at or below its cut.
   * Returns false only when the head's own condition failed.
   */
  private async transact(id: string, items: TransactItem[], mark: boolean): Promise<boolean> {
    let floor = 0;
    for (let attempt = 0; ; attempt++) {
      const at = Math.max(this.nowMs(), floor);
      const extra: TransactItem[] = mark
        ? [
            { Put: { TableName: this.table, Item: { ...keys.mark(id, at), id, ttl: Math.ceil((at + MARK_RETENTION_MS) / 1000) } } },
            {
              ConditionCheck: {
                TableName: this.table,
                Key: keys.fence(),
                ConditionExpression: 'attribute_not_exists(cut) OR cut < :at',
                ExpressionAttributeValues: { ':at': at },
              },
            },
          ]
        : [];
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: [...items, ...extra] }));
        return true;
      } catch (err) {
        if (!(err instanceof TransactionCanceledException)) throw err;
        const reasons = err.CancellationReasons ?? [];
        // The head's version (or the revision's absence) no longer holds: the caller re-reads.
        if (reasons.slice(0, items.length).some((r) => r.Code === 'ConditionalCheckFailed')) return false;
        if (attempt + 1 >= FENCE_ATTEMPTS) throw err;
        const fenced = mark && reasons[items.length + 1]?.Code === 'ConditionalCheckFailed';
        if (fenced) {
          // A publish raised the fence past our mark's time (its clock is ahead of ours): mark after it.
          const fence = await this.db.send(new GetCommand({ TableName: this.table, Key: keys.fence(), ConsistentRead: true }));
          floor = Number(fence.Item?.cut ?? 0) + 1;
        } else {
          // TransactionConflict: another transaction held one of our items (the fence while a publish raised it).
          await new Promise((r) => setTimeout(r, Math.min(200, 5 * 2 ** attempt) * (0.5 + Math.random())));
        }
      }
    }
  }

  async writeRevision(head: RecordHead, revision: RevisionEntry, opts: WriteOptions): Promise<boolean> {
    const { content, ...meta } = revision;
    return this.transact(
      head.id,
      [
        { Put: { TableName: this.table, Item: headToItem(head), ...this.condition(head.version) } },
        { Put: { TableName: this.table, Item: { ...keys.revision(revision.id, revision.revision), ...meta, content: JSON.stringify(content) }, ConditionExpression: 'attribute_not_exists(pk)' } },
      ],
      opts.publishChanged,
    );
  }

  async updateHead(head: RecordHead, audit: AuditEntry, opts: WriteOptions): Promise<boolean> {
    return this.transact(
      head.id,
      [
        { Put: { TableName: this.table, Item: headToItem(head), ...this.condition(head.version) } },
        { Put: { TableName: this.table, Item: { ...keys.audit(audit.id, audit.at, randomBytes(4).toString('hex')), ...audit }, ConditionExpression: 'attribute_not_exists(pk)' } },
      ],
      opts.publishChanged,
    );
  }

  private async queryPrefix(id: string, prefix: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':pk': keys.head(id).pk, ':p': prefix },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async listRevisions(id: string): Promise<RevisionEntry[]> {
    return (await this.queryPrefix(id, 'REV#')).map(({ pk: _pk, sk: _sk, content, ...rest }) => ({ ...(rest as Omit<RevisionEntry, 'content'>), content: JSON.parse(content as string) }));
  }

  async ping(): Promise<void> {
    await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: 'PING', sk: 'PING' } }));
  }

  async listAudit(id: string): Promise<AuditEntry[]> {
    return (await this.queryPrefix(id, 'AUDIT#')).map(({ pk: _pk, sk: _sk, ...rest }) => rest as unknown as AuditEntry);
  }

  async isEmpty(): Promise<boolean> {
    const out = await this.db.send(new ScanCommand({ TableName: this.table, IndexName: TABLE_SHAPE.indexes.heads.name, Limit: 1 }));
    return (out.Items ?? []).length === 0 && !out.LastEvaluatedKey;
  }

  /**
   * Brings heads written by an earlier version up to the current key design: index attributes added,
   * `first_published` moved beside the head. Run once when an index was added to an existing table.
   * @returns how many heads were rewritten
   */
  async reindexHeads(): Promise<number> {
    let start: Item | undefined;
    let rewritten = 0;
    do {
      const out = await this.db.send(
        new ScanCommand({ TableName: this.table, FilterExpression: 'sk = :head AND (attribute_not_exists(heads_pk) OR attribute_not_exists(queue_pk))', ExpressionAttributeValues: { ':head': 'HEAD' }, ExclusiveStartKey: start }),
      );
      for (const item of out.Items ?? []) {
        const head = itemToHead(item);
        const items: TransactItem[] = [{ Put: { TableName: this.table, Item: headToItem(head), ConditionExpression: '#v = :v', ExpressionAttributeNames: { '#v': 'version' }, ExpressionAttributeValues: { ':v': head.version } } }];
        if (typeof item.first_published === 'string') items.push({ Put: { TableName: this.table, Item: { ...keys.published(head.id), first_published: item.first_published } } });
        try {
          await this.db.send(new TransactWriteCommand({ TransactItems: items }));
          rewritten++;
        } catch (err) {
          // Rewritten meanwhile by a current writer: it has the attributes now.
          if (!(err instanceof TransactionCanceledException)) throw err;
        }
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return rewritten;
  }

  async *scanHeads(segments: number): AsyncIterable<RecordHead[]> {
    // Segments of the heads-only index are read in parallel; pages are handed out as they arrive.
    const pending = new Map<number, Promise<{ segment: number; items: Item[]; next?: Item }>>();
    const read = (segment: number, start?: Item) =>
      this.db
        .send(new ScanCommand({ TableName: this.table, IndexName: TABLE_SHAPE.indexes.heads.name, Segment: segment, TotalSegments: segments, ExclusiveStartKey: start }))
        .then((out) => ({ segment, items: out.Items ?? [], next: out.LastEvaluatedKey }));
    for (let s = 0; s < segments; s++) pending.set(s, read(s));
    while (pending.size > 0) {
      const { segment, items, next } = await Promise.race(pending.values());
      if (next) pending.set(segment, read(segment, next));
      else pending.delete(segment);
      if (items.length > 0) yield items.map(itemToHead);
    }
  }
}

/**
 * BatchGetItem over any number of keys: 100 per request, a few requests in flight, unprocessed keys
 * retried with backoff; strongly consistent.
 */
export async function batchGet(db: DynamoDBDocumentClient, table: string, itemKeys: ReadonlyArray<Item>): Promise<Item[]> {
  const unique = [...new Map(itemKeys.map((k) => [`${k.pk}\u0000${k.sk}`, k])).values()];
  const chunks: Item[][] = [];
  for (let i = 0; i < unique.length; i += 100) chunks.push(unique.slice(i, i + 100));
  const found: Item[] = [];
  const readChunk = async (chunk: Item[]) => {
    let request: Record<string, { Keys: Item[]; ConsistentRead: boolean }> | undefined = { [table]: { Keys: chunk, ConsistentRead: true } };
    for (let attempt = 0; request && Object.keys(request).length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
      const out = await db.send(new BatchGetCommand({ RequestItems: request }));
      found.push(...(out.Responses?.[table] ?? []));
      request = out.UnprocessedKeys as typeof request;
    }
  };
  const queue = [...chunks];
  await Promise.all(
    Array.from({ length: Math.min(4, queue.length) }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await readChunk(c);
    }),
  );
  return found;
}
