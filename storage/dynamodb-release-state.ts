import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ReleaseStateStore } from '../pipeline/ports.ts';

const KEY = { pk: 'RELEASE#latest', sk: 'RELEASE' };

/** The last published release id and manifest hash, in the table beside the records. */
export class DynamoDbReleaseStateStore implements ReleaseStateStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async getLatest(): Promise<{ version: string; manifest_sha256: string } | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: KEY, ConsistentRead: true }));
    return out.Item ? { version: out.Item.version as string, manifest_sha256: out.Item.manifest_sha256 as string } : undefined;
  }

  async setLatest(version: string, manifestSha256: string): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { ...KEY, version, manifest_sha256: manifestSha256 } }));
  }
}
