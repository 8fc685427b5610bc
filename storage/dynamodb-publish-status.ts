import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PublishStatusStore } from '../pipeline/track-publish.ts';
import { PublishStatus } from '../schemas/publish-status.ts';
import { documentClient, keys } from './dynamodb-table.ts';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** The status of the last publish: one item (`PUBLISH#STATUS` / `STATUS`, storage/dynamodb-table.ts). */
export class DynamoDbPublishStatusStore implements PublishStatusStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async read(): Promise<PublishStatus | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: keys.publishStatus, ConsistentRead: true }));
    if (!out.Item) return undefined;
    const { pk: _pk, sk: _sk, ...rest } = out.Item;
    const parsed = PublishStatus.safeParse(rest);
    return parsed.success ? parsed.data : undefined;
  }

  async write(status: PublishStatus): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { ...keys.publishStatus, ...status } }));
  }

  async claim(status: PublishStatus & { state: 'running' }, staleBefore: string): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...keys.publishStatus, ...status },
          ConditionExpression: 'attribute_not_exists(pk) OR #state <> :running OR started_at < :stale',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':running': 'running', ':stale': staleBefore },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as Error).name === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }
}

/** The status store of an entry point's table (the same client and table as its other adapters). */
export const publishStatusStore = (ctx: { dynamodb: DynamoDBClient; settings: { tableName: string } }): DynamoDbPublishStatusStore =>
  new DynamoDbPublishStatusStore(documentClient(ctx.dynamodb), ctx.settings.tableName);
