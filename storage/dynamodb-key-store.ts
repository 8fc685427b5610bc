import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ApiKey, KeyStore } from '../pipeline/ports.ts';
import { keys } from './dynamodb-table.ts';

/** API keys by the SHA-256 of the secret, plus an item per key id (to disable a key by its id). */
export class DynamoDbKeyStore implements KeyStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async putKey(key: ApiKey): Promise<boolean> {
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: this.table, Item: { ...keys.apiKey(key.key_sha256), ...key }, ConditionExpression: 'attribute_not_exists(pk)' } },
            { Put: { TableName: this.table, Item: { ...keys.apiKeyId(key.key_id), key_sha256: key.key_sha256 }, ConditionExpression: 'attribute_not_exists(pk)' } },
          ],
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof TransactionCanceledException) return false;
      throw err;
    }
  }

  async getKeyByHash(sha256: string): Promise<ApiKey | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: keys.apiKey(sha256), ConsistentRead: true }));
    if (!out.Item) return undefined;
    const { pk: _pk, sk: _sk, ...key } = out.Item;
    return key as ApiKey;
  }

  async disableKey(keyId: string, at: string): Promise<boolean> {
    const ref = await this.db.send(new GetCommand({ TableName: this.table, Key: keys.apiKeyId(keyId), ConsistentRead: true }));
    const hash = ref.Item?.key_sha256 as string | undefined;
    if (!hash) return false;
    await this.db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: this.table,
              Key: keys.apiKey(hash),
              UpdateExpression: 'SET disabled = :t, disabled_at = if_not_exists(disabled_at, :at)',
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeValues: { ':t': true, ':at': at },
            },
          },
        ],
      }),
    );
    return true;
  }
}
