import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LeaseStore } from '../pipeline/ports.ts';
import { keys } from './dynamodb-table.ts';

/**
 * Leases as conditional writes: taken when absent or expired, renewed and released only by their owner.
 * `expires_at` (ms) decides; `ttl` (s) lets DynamoDB clean up leases of crashed holders.
 */
export class DynamoDbLeaseStore implements LeaseStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  private async put(name: string, owner: string, ttlMs: number, now: Date, condition: string): Promise<boolean> {
    const expires = now.getTime() + ttlMs;
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...keys.lease(name), owner, expires_at: expires, ttl: Math.ceil(expires / 1000) + 3600 },
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#o': 'owner', '#e': 'expires_at' },
          ExpressionAttributeValues: { ':o': owner, ':now': now.getTime() },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  acquire(name: string, owner: string, ttlMs: number, now: Date): Promise<boolean> {
    return this.put(name, owner, ttlMs, now, 'attribute_not_exists(pk) OR #e < :now OR #o = :o');
  }

  renew(name: string, owner: string, ttlMs: number, now: Date): Promise<boolean> {
    return this.put(name, owner, ttlMs, now, '#o = :o AND #e >= :now');
  }

  async release(name: string, owner: string): Promise<void> {
    try {
      await this.db.send(
        new DeleteCommand({ TableName: this.table, Key: keys.lease(name), ConditionExpression: '#o = :o', ExpressionAttributeNames: { '#o': 'owner' }, ExpressionAttributeValues: { ':o': owner } }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }
}
