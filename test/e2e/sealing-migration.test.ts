// The sealing migration as AWS runs it (issue 12, issue 9): the custom resource's handler, invoked with
// CloudFormation's event shapes against the local DynamoDB, re-keys API keys stored as bare SHA-256 on
// Create, and never again on its own: an Update naming the same migration, or a Delete, leaves a key
// planted later as it is (it never authenticates).
import { randomBytes } from 'node:crypto';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create } from '../../functions/sealing-migration.ts';
import { canonicalJson, sha256Hex } from '../../pipeline/canonical.ts';
import { documentClient, keys } from '../../storage/dynamodb-table.ts';
import { person, source, submitOk } from '../support/release.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const base = {
  ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
  ResponseURL: 'https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x',
  StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/rights-ledger-stateless/1',
  RequestId: 'r-1',
  LogicalResourceId: 'SealingMigrationRun',
  ResourceType: 'Custom::LedgerMigration',
};
const props = (migration: string) => ({ ServiceToken: base.ServiceToken, Migration: migration });
const createEvent = { ...base, RequestType: 'Create', ResourceProperties: props('sealing-v1') } as CloudFormationCustomResourceEvent;
const updateEvent = (from: string, to: string) => ({ ...base, RequestType: 'Update', PhysicalResourceId: from, ResourceProperties: props(to), OldResourceProperties: props(from) }) as CloudFormationCustomResourceEvent;
const deleteEvent = { ...base, RequestType: 'Delete', PhysicalResourceId: 'sealing-v1', ResourceProperties: props('sealing-v1') } as CloudFormationCustomResourceEvent;

async function plantLegacyKey(id: string): Promise<string> {
  const key = `rl_legacy_${randomBytes(24).toString('base64url')}`;
  const db = documentClient(stack.ctx.dynamodb);
  const table = stack.ctx.settings.tableName;
  await db.send(new PutCommand({ TableName: table, Item: { ...keys.apiKey(sha256Hex(key)), key_id: id, key_sha256: sha256Hex(key), role: 'editor', name: 'made before sealing', created_at: new Date().toISOString(), created_by: 'cli', disabled: false } }));
  await db.send(new PutCommand({ TableName: table, Item: { ...keys.apiKeyId(id), key_sha256: sha256Hex(key) } }));
  return key;
}
const CANARY = `canary-${randomBytes(6).toString('hex')}`;

/** A record as a version before sealed storage stored it: restricted values in plain text, a bare SHA-256 of the content. */
async function plantPlainRecord(id: string): Promise<void> {
  await submitOk(stack, stack.editorKey, [source('src-mig'), person(id, ['src-mig'], { restricted: { notes: CANARY } })]);
  const db = documentClient(stack.ctx.dynamodb);
  const table = stack.ctx.settings.tableName;
  const items = (await db.send(new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.head(id).pk } }))).Items ?? [];
  for (const item of items.filter((i) => typeof i.content === 'string')) {
    const open = async (field: 'content' | 'approved', revision: number) => stack.ctx.sealer.reveal({ id, kind: 'person', revision }, JSON.parse(item[field] as string), 'all');
    const plain = await open('content', item.revision as number);
    const approved = typeof item.approved === 'string' ? await open('approved', item.approved_revision as number) : undefined;
    await db.send(new PutCommand({ TableName: table, Item: { ...item, content: JSON.stringify(plain), content_sha256: sha256Hex(canonicalJson(plain)), ...(approved ? { approved: JSON.stringify(approved) } : {}) } }));
  }
  expect(JSON.stringify(items.length)).not.toBe('0');
}
const plainItemsOf = async (id: string) =>
  ((await documentClient(stack.ctx.dynamodb).send(new QueryCommand({ TableName: stack.ctx.settings.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.head(id).pk } }))).Items ?? []).filter((i) => JSON.stringify(i).includes(CANARY));

const status = async (key: string) => (await call(stack, 'GET', '/publish/status', { key })).status;

describe('the sealing migration custom resource', () => {
  let legacy: string;
  it('Create re-keys a key stored before sealing, which then authenticates, and seals records stored in plain text', async () => {
    legacy = await plantLegacyKey('key_legacy_cr');
    await plantPlainRecord('per-mig');
    const planted = (await plainItemsOf('per-mig')).length;
    expect(planted).toBeGreaterThan(0);
    expect(await status(legacy)).toBe(401);
    const out = await create(stack.ctx)(createEvent);
    expect(out).toEqual({ PhysicalResourceId: 'sealing-v1', Data: { ApiKeysRekeyed: '1', RecordItemsSealed: String(planted) } });
    expect(await status(legacy)).not.toBe(401);
    expect(await plainItemsOf('per-mig')).toEqual([]);
  });
  it('an Update naming the same migration does not run it: a key planted later never authenticates', async () => {
    const late = await plantLegacyKey('key_late_update');
    expect(await create(stack.ctx)(updateEvent('sealing-v1', 'sealing-v1'))).toEqual({ PhysicalResourceId: 'sealing-v1' });
    expect(await status(late)).toBe(401);
  });
  it('a Delete does not run it either', async () => {
    const late = await plantLegacyKey('key_late_delete');
    expect(await create(stack.ctx)(deleteEvent)).toEqual({ PhysicalResourceId: 'sealing-v1' });
    expect(await status(late)).toBe(401);
  });
  it('an unknown migration name fails the deployment instead of doing nothing', async () => {
    await expect(create(stack.ctx)(updateEvent('sealing-v1', 'sealing-v9'))).rejects.toThrow(/unknown migration "sealing-v9"/);
  });
});
