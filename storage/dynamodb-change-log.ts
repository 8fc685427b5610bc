import { BatchWriteCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { ChangeLog, ChangeMark } from '../pipeline/ports.ts';
import { batchGet } from './dynamodb-record-store.ts';
import { MARK_SHARDS, keys, padMs } from './dynamodb-table.ts';

type Item = Record<string, unknown>;

/** BatchWriteItem over any number of requests: 25 per call, unprocessed items retried with backoff. */
async function batchWrite(db: DynamoDBDocumentClient, table: string, requests: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  for (let i = 0; i < requests.length; i += 25) {
    let pending: Record<string, unknown>[] | undefined = requests.slice(i, i + 25) as Record<string, unknown>[];
    for (let attempt = 0; pending && pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(2000, 25 * 2 ** attempt)));
      const out = await db.send(new BatchWriteCommand({ RequestItems: { [table]: pending as never } }));
      pending = out.UnprocessedItems?.[table] as Record<string, unknown>[] | undefined;
    }
  }
}

/** The change index on DynamoDB: marks in sharded partitions, a fence item, the deferred set. */
export class DynamoDbChangeLog implements ChangeLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly nowMs: () => number = Date.now,
  ) {}

  async advanceCut(): Promise<number> {
    for (;;) {
      const now = this.nowMs();
      try {
        const out = await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: keys.fence(),
            UpdateExpression: 'SET cut = :now',
            ConditionExpression: 'attribute_not_exists(cut) OR cut < :now',
            ExpressionAttributeValues: { ':now': now },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return Number(out.Attributes!.cut);
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        // Another publisher's clock was ahead: wait for ours to pass its cut (never more than a moment).
        await new Promise((r) => setTimeout(r, 5));
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

  async *listDeferred(): AsyncIterable<Array<{ id: string; reason: string }>> {
    let start: Item | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.deferred('').pk }, ConsistentRead: true, ExclusiveStartKey: start }),
      );
      const entries = (out.Items ?? []).map((it) => ({ id: it.sk as string, reason: String(it.reason ?? '') }));
      if (entries.length > 0) yield entries;
      start = out.LastEvaluatedKey;
    } while (start);
  }

  addDeferred(entries: ReadonlyArray<{ id: string; reason: string }>): Promise<void> {
    return batchWrite(this.db, this.table, entries.map((e) => ({ PutRequest: { Item: { ...keys.deferred(e.id), reason: e.reason } } })));
  }

  removeDeferred(ids: ReadonlyArray<string>): Promise<void> {
    return batchWrite(this.db, this.table, ids.map((id) => ({ DeleteRequest: { Key: keys.deferred(id) } })));
  }

  recordFirstPublished(entries: ReadonlyArray<{ id: string; version: string }>): Promise<void> {
    return batchWrite(this.db, this.table, entries.map((e) => ({ PutRequest: { Item: { ...keys.published(e.id), first_published: e.version } } })));
  }

  async firstPublished(ids: ReadonlyArray<string>): Promise<Map<string, string>> {
    const items = await batchGet(this.db, this.table, ids.map((id) => keys.published(id)));
    return new Map(items.map((it) => [(it.pk as string).slice('REC#'.length), it.first_published as string]));
  }
}
