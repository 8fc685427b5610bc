import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, QueryCommand, ScanCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import type { AuditEntry, RecordHead, RecordStore, RevisionEntry } from '../pipeline/ports.ts';
import { keys } from './dynamodb-table.ts';

type Item = Record<string, unknown>;

/** Contents are kept as JSON strings: exact numbers, no empty-string or nesting limits, one attribute. */
function headToItem(h: RecordHead): Item {
  const { content, approved, ...rest } = h;
  return { ...keys.head(h.id), ...rest, content: JSON.stringify(content), approved: approved === undefined ? undefined : JSON.stringify(approved) };
}

function itemToHead(item: Item): RecordHead {
  const { pk: _pk, sk: _sk, content, approved, ...rest } = item;
  return { ...(rest as Omit<RecordHead, 'content' | 'approved'>), content: JSON.parse(content as string), approved: approved === undefined ? undefined : JSON.parse(approved as string) };
}

const isConditionFailure = (err: unknown) =>
  err instanceof TransactionCanceledException && (err.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed');

/** RecordStore on DynamoDB: a head item per record plus one item per revision and per audit entry. */
export class DynamoDbRecordStore implements RecordStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async getHead(id: string): Promise<RecordHead | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: keys.head(id), ConsistentRead: true }));
    return out.Item ? itemToHead(out.Item) : undefined;
  }

  async getHeads(ids: ReadonlyArray<string>): Promise<Map<string, RecordHead>> {
    const found = new Map<string, RecordHead>();
    const unique = [...new Set(ids)];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += 100) chunks.push(unique.slice(i, i + 100));
    // BatchGetItem takes 100 keys; a few requests in flight at once, unprocessed keys retried with backoff.
    const readChunk = async (chunk: string[]) => {
      let request: Record<string, { Keys: Item[]; ConsistentRead: boolean }> | undefined = {
        [this.table]: { Keys: chunk.map((id) => keys.head(id)), ConsistentRead: true },
      };
      for (let attempt = 0; request && Object.keys(request).length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
        const out = await this.db.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of out.Responses?.[this.table] ?? []) {
          const head = itemToHead(item);
          found.set(head.id, head);
        }
        request = out.UnprocessedKeys as typeof request;
      }
    };
    const queue = [...chunks];
    await Promise.all(Array.from({ length: Math.min(4, queue.length) }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await readChunk(c);
    }));
    return found;
  }

  private condition(version: number) {
    return version === 1
      ? { ConditionExpression: 'attribute_not_exists(pk)' }
      : { ConditionExpression: '#v = :v', ExpressionAttributeNames: { '#v': 'version' }, ExpressionAttributeValues: { ':v': version - 1 } };
  }

  async writeRevision(head: RecordHead, revision: RevisionEntry): Promise<boolean> {
    const { content, ...meta } = revision;
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: this.table, Item: headToItem(head), ...this.condition(head.version) } },
            {
              Put: {
                TableName: this.table,
                Item: { ...keys.revision(revision.id, revision.revision), ...meta, content: JSON.stringify(content) },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async updateHead(head: RecordHead, audit: AuditEntry): Promise<boolean> {
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: this.table, Item: headToItem(head), ...this.condition(head.version) } },
            { Put: { TableName: this.table, Item: { ...keys.audit(audit.id, audit.at, randomBytes(4).toString('hex')), ...audit }, ConditionExpression: 'attribute_not_exists(pk)' } },
          ],
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
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

  async markFirstPublished(entries: ReadonlyArray<{ id: string; release: string }>): Promise<void> {
    const queue = [...entries];
    const worker = async () => {
      for (let e = queue.shift(); e; e = queue.shift()) {
        try {
          await this.db.send(
            new UpdateCommand({
              TableName: this.table,
              Key: keys.head(e.id),
              UpdateExpression: 'SET first_published = :r',
              ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(first_published)',
              ExpressionAttributeValues: { ':r': e.release },
            }),
          );
        } catch (err) {
          if (!(err instanceof ConditionalCheckFailedException)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, queue.length) }, worker));
  }

  async ping(): Promise<void> {
    await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: 'PING', sk: 'PING' } }));
  }

  async listAudit(id: string): Promise<AuditEntry[]> {
    return (await this.queryPrefix(id, 'AUDIT#')).map(({ pk: _pk, sk: _sk, ...rest }) => rest as unknown as AuditEntry);
  }

  async *scanHeads(segments: number): AsyncIterable<RecordHead[]> {
    // Segments are read in parallel; their pages are handed out as they arrive, never all at once.
    const pending = new Map<number, Promise<{ segment: number; items: Item[]; next?: Item }>>();
    const read = (segment: number, start?: Item) =>
      this.db
        .send(
          new ScanCommand({
            TableName: this.table,
            Segment: segment,
            TotalSegments: segments,
            ConsistentRead: true,
            FilterExpression: 'sk = :head',
            ExpressionAttributeValues: { ':head': 'HEAD' },
            ExclusiveStartKey: start,
          }),
        )
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
