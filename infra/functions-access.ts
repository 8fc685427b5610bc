import { Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { TABLE_SHAPE, keys } from '../storage/dynamodb-table.ts';

/**
 * Which table partitions (leading keys, storage/dynamodb-table.ts) each API function may reach, and
 * how. Nothing here may Scan or DeleteItem; only the publisher (whole table) and the sealing migration
 * do more. Patterns are IAM `StringLike` patterns over the item's partition key.
 */
const RECORD_PARTITIONS = [
  'REC#*', // heads, revisions, audit, submitters, PUBLISHED items
  'CHG#*', // change marks written with every change
  keys.fence(0).pk, // the publish fences a marking write checks
  'RELEASE#*', // the release history first_published is read from
  keys.deferred('x').pk, // records a release held back
  'PING', // GET /health
] as const;
const KEY_PARTITIONS = ['KEY#*', 'KEYID#*'] as const;

const READ = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'];
const WRITE = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem'];

export const TABLE_ACCESS = {
  /** GET /health reads one item that never exists. */
  'api-info': { partitions: ['PING'], actions: ['dynamodb:GetItem'], indexes: false },
  /** Stores revisions, submitters and marks; checks references and fences. */
  'api-submit': { partitions: RECORD_PARTITIONS, actions: [...READ, ...WRITE], indexes: false },
  /** Reads, lists (indexes), reviews and retracts records. */
  'api-records': { partitions: RECORD_PARTITIONS, actions: [...READ, ...WRITE], indexes: true },
  /** Creates and disables API keys (transactions of Put, Update and ConditionCheck). */
  'api-keys': { partitions: KEY_PARTITIONS, actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem'], indexes: false },
  /** Looks keys up: reads key items only. */
  authorizer: { partitions: KEY_PARTITIONS, actions: ['dynamodb:GetItem'], indexes: false },
  /** In AWS POST /publish only claims and reads the publish status; the publisher does the rest. */
  'api-publish': { partitions: [keys.publishStatus.pk], actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], indexes: false },
} as const satisfies Record<string, { partitions: readonly string[]; actions: readonly string[]; indexes: boolean }>;
export type TableUser = keyof typeof TABLE_ACCESS;

/** Grants `fn` the TABLE_ACCESS entry of `name`: item actions limited by dynamodb:LeadingKeys, Query on the (sparse, head-only) indexes where listed. */
export function grantTableAccess(fn: IFunction, name: TableUser, table: ITable): void {
  const access = TABLE_ACCESS[name];
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'ItemsOfItsPartitions',
      actions: [...access.actions],
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...access.partitions] } },
    }),
  );
  if (access.indexes) {
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'QueryTheIndexes', actions: ['dynamodb:Query'], resources: Object.values(TABLE_SHAPE.indexes).map((ix) => `${table.tableArn}/index/${ix.name}`) }));
  }
}

/** The sealing migration: scans record and key items and rewrites them in place (storage/sealed-items.ts, dynamodb-key-store.ts). */
export function grantMigrationAccess(fn: IFunction, table: ITable): void {
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'RewriteItemsInPlace',
      actions: ['dynamodb:Scan', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'],
      resources: [table.tableArn],
    }),
  );
}

/** `arn:…:kms:<region>:<account>:key/*` limited to one alias: how the stateless stack names a key of the stateful one. */
export function kmsStatement(scope: Stack, actions: string[], alias: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions,
    resources: [`arn:${scope.partition}:kms:${scope.region}:${scope.account}:key/*`],
    conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': alias } },
  });
}
