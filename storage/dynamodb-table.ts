import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceNotFoundException, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * The one table's shape, shared by the CDK stack and the local stack: a partition key `pk` and a sort
 * key `sk` (both strings), and `ttl` (epoch seconds) for items that expire, such as publish leases.
 */
export const TABLE_SHAPE = { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'ttl' } as const;

/** Item keys: every record lives under its own partition, beside its revisions and audit entries. */
export const keys = {
  head: (id: string) => ({ pk: `REC#${id}`, sk: 'HEAD' }),
  revision: (id: string, revision: number) => ({ pk: `REC#${id}`, sk: `REV#${String(revision).padStart(10, '0')}` }),
  audit: (id: string, at: string, nonce: string) => ({ pk: `REC#${id}`, sk: `AUDIT#${at}#${nonce}` }),
  apiKey: (sha256: string) => ({ pk: `KEY#${sha256}`, sk: 'KEY' }),
  apiKeyId: (keyId: string) => ({ pk: `KEYID#${keyId}`, sk: 'KEYID' }),
  lease: (name: string) => ({ pk: `LEASE#${name}`, sk: 'LEASE' }),
};

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** Creates the table if it does not exist (local stack and tests; in AWS the CDK stack owns it). */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw err;
  }
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: TABLE_SHAPE.partitionKey, AttributeType: 'S' },
        { AttributeName: TABLE_SHAPE.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: TABLE_SHAPE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_SHAPE.sortKey, KeyType: 'RANGE' },
      ],
    }),
  );
  await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: TABLE_SHAPE.ttlAttribute, Enabled: true } }));
}
