import { randomBytes } from 'node:crypto';
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { dynamodbClientConfig } from '../../local/services.ts';

const ddb = new DynamoDBClient(dynamodbClientConfig(inject('dynamodbEndpoint')));
const table = `local-ddb-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

afterAll(() => {
  ddb.destroy();
});

describe('DynamoDB Local', () => {
  it('answers, creates a table, and cancels a transaction whose ConditionCheck fails', async () => {
    const listed = await ddb.send(new ListTablesCommand({}));
    expect(Array.isArray(listed.TableNames)).toBe(true);

    await ddb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    await ddb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'existing' } } }));

    const cancelled = await ddb
      .send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { ConditionCheck: { TableName: table, Key: { pk: { S: 'existing' } }, ConditionExpression: 'attribute_not_exists(pk)' } },
            { Put: { TableName: table, Item: { pk: { S: 'should-not-exist' } } } },
          ],
        }),
      )
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(cancelled).toBeInstanceOf(TransactionCanceledException);
    expect((cancelled as TransactionCanceledException).CancellationReasons?.map((r) => r.Code)).toEqual(['ConditionalCheckFailed', 'None']);

    const ghost = await ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'should-not-exist' } }, ConsistentRead: true }));
    expect(ghost.Item).toBeUndefined();
  });
});
