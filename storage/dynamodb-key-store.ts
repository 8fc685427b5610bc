import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, ScanCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ApiKey, KeyStore } from '../pipeline/ports.ts';
import { keys } from './dynamodb-table.ts';

/** The format of key items written by this store: 1 = keyed by HMAC-SHA-256 under the deployment's secret. */
const KEY_FORMAT = 1;

/**
 * API keys keyed by HMAC-SHA-256(deployment secret, SHA-256(key)), plus an item per key id (to disable
 * a key by its id). Neither the key nor its bare SHA-256 is stored: an item planted in the table by
 * someone without the deployment's secret names no key that can be sent, and a copy of the table cannot
 * be searched for a guessed key. Items of the older format (keyed by the bare SHA-256) are never
 * accepted; {@link migrateLegacyKeys} re-keys them once.
 */
export class DynamoDbKeyStore implements KeyStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    /** HMAC of a key's SHA-256 under the deployment's secret (EnvelopeSealer.apiKeyMac). */
    private readonly mac: (keySha256: string) => Promise<string>,
  ) {}

  private async item(key: ApiKey, mac: string) {
    const { key_sha256: _plainHash, ...rest } = key;
    return { ...keys.apiKey(mac), ...rest, key_format: KEY_FORMAT };
  }

  async putKey(key: ApiKey): Promise<boolean> {
    const mac = await this.mac(key.key_sha256);
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: this.table, Item: await this.item(key, mac), ConditionExpression: 'attribute_not_exists(pk)' } },
            { Put: { TableName: this.table, Item: { ...keys.apiKeyId(key.key_id), key_mac: mac }, ConditionExpression: 'attribute_not_exists(pk)' } },
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
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: keys.apiKey(await this.mac(sha256)), ConsistentRead: true }));
    if (!out.Item || out.Item.key_format !== KEY_FORMAT) return undefined;
    const { pk: _pk, sk: _sk, key_format: _f, ...key } = out.Item;
    return { ...(key as Omit<ApiKey, 'key_sha256'>), key_sha256: sha256 };
  }

  async disableKey(keyId: string, at: string): Promise<boolean> {
    const ref = await this.db.send(new GetCommand({ TableName: this.table, Key: keys.apiKeyId(keyId), ConsistentRead: true }));
    const mac = ref.Item?.key_mac as string | undefined;
    if (!mac) return false;
    await this.db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: this.table,
              Key: keys.apiKey(mac),
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

  /**
   * Re-keys every key item of the older format (`KEY#<sha256>`, written before keys were bound to the
   * deployment) as `KEY#<hmac>`, and points its key id item at it; the old items are deleted. Existing
   * keys keep working with no action by their holders. Run ONCE, when the deployment's key material is
   * first set up (local/start.ts): run later, it would also re-key items someone planted meanwhile.
   * @returns how many keys were re-keyed
   */
  async migrateLegacyKeys(): Promise<number> {
    let start: Record<string, unknown> | undefined;
    let moved = 0;
    do {
      const out = await this.db.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'begins_with(pk, :p) AND sk = :sk AND attribute_not_exists(key_format)',
          ExpressionAttributeValues: { ':p': 'KEY#', ':sk': 'KEY' },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        const sha = (item.pk as string).slice('KEY#'.length);
        if (!/^[0-9a-f]{64}$/.test(sha)) continue;
        const { pk, sk, key_sha256: _k, ...rest } = item;
        const mac = await this.mac(sha);
        try {
          await this.db.send(
            new TransactWriteCommand({
              TransactItems: [
                { Put: { TableName: this.table, Item: { ...keys.apiKey(mac), ...rest, key_format: KEY_FORMAT }, ConditionExpression: 'attribute_not_exists(pk)' } },
                { Put: { TableName: this.table, Item: { ...keys.apiKeyId(rest.key_id as string), key_mac: mac } } },
                { Delete: { TableName: this.table, Key: { pk, sk } } },
              ],
            }),
          );
          moved++;
        } catch (err) {
          if (!(err instanceof TransactionCanceledException)) throw err;
        }
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return moved;
  }
}
