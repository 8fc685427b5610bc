import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { keys } from './dynamodb-table.ts';
import type { ReleaseState, ReleaseStateStore } from '../pipeline/ports.ts';

const KEY = { pk: 'RELEASE#latest', sk: 'RELEASE' };

const toState = (v: unknown): ReleaseState | undefined => {
  const o = v as { version?: string; manifest_sha256?: string; cut?: number; latest_synced?: boolean; rules?: string } | undefined;
  if (!o?.version || !o.manifest_sha256) return undefined;
  return { version: o.version, manifest_sha256: o.manifest_sha256, ...(o.cut !== undefined ? { cut: Number(o.cut) } : {}), ...(o.latest_synced !== undefined ? { latest_synced: o.latest_synced } : {}), ...(o.rules !== undefined ? { rules: o.rules } : {}) };
};

/** The last committed release (and the one being committed), in the table beside the records. */
export class DynamoDbReleaseStateStore implements ReleaseStateStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async getLatest(): Promise<{ latest?: ReleaseState; pending?: ReleaseState }> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: KEY, ConsistentRead: true }));
    const item = out.Item;
    if (!item) return {};
    // Items written before the two-phase state kept version and hash at the top level.
    const latest = toState(item.latest) ?? toState(item);
    return { latest, pending: toState(item.pending) };
  }

  async prepare(state: ReleaseState): Promise<void> {
    await this.db.send(new UpdateCommand({ TableName: this.table, Key: KEY, UpdateExpression: 'SET pending = :p', ExpressionAttributeValues: { ':p': state } }));
  }

  /**
   * With a new version (and a cut), the release also goes into the history of committed releases, in
   * the same transaction: what a record's first release is read from (ChangeLog.firstPublished).
   */
  async commit(state: ReleaseState, expected: string | null): Promise<boolean> {
    const put = {
      TableName: this.table,
      Item: { ...KEY, latest: state },
      ...(expected === null
        ? { ConditionExpression: 'attribute_not_exists(latest)' }
        : {
            // Items written before the two-phase state kept the version at the top level.
            ConditionExpression: '#l.#v = :v OR (attribute_not_exists(#l) AND #v = :v)',
            ExpressionAttributeNames: { '#l': 'latest', '#v': 'version' },
            ExpressionAttributeValues: { ':v': expected },
          }),
    };
    try {
      if (state.version === expected || state.cut === undefined) {
        await this.db.send(new PutCommand(put));
      } else {
        const history = { TableName: this.table, Item: { ...keys.releaseHistory(state.cut, state.version), version: state.version, cut: state.cut } };
        await this.db.send(new TransactWriteCommand({ TransactItems: [{ Put: put }, { Put: history }] }));
      }
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      if (err instanceof TransactionCanceledException && err.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') return false;
      throw err;
    }
  }
}
