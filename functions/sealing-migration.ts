// CloudFormation custom resource (cr.Provider onEvent) → the one-time sealing migration of a deployment that already holds data (issue 12).
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { DynamoDbKeyStore } from '../storage/dynamodb-key-store.ts';
import { documentClient } from '../storage/dynamodb-table.ts';
import { sealPlainItems } from '../storage/sealed-items.ts';
import { lambdaContext, type StoreContext } from './config.ts';
import { logger, withLambdaContext } from './logger.ts';

/** The migrations this function knows, by the name the custom resource's `Migration` property gives. */
export const MIGRATIONS = ['sealing-v1'] as const;
export type MigrationName = (typeof MIGRATIONS)[number];

/** Re-keys API keys stored as bare SHA-256 and seals records stored in plain text; idempotent (sealed items are left alone). */
export async function runSealingMigration(ctx: StoreContext): Promise<{ keys: number; records: number }> {
  const db = documentClient(ctx.dynamodb);
  const table = ctx.settings.tableName;
  const keys = await new DynamoDbKeyStore(db, table, (sha) => ctx.sealer.apiKeyMac(sha)).migrateLegacyKeys();
  const records = await sealPlainItems(db, table, ctx.sealer);
  return { keys, records };
}

interface ProviderResponse {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

/**
 * Runs the named migration when the resource is created, or when an update names another migration;
 * never on an update that names the same one (a new provider, a new stack parameter) and never on
 * delete. Its PhysicalResourceId is the migration's name, so CloudFormation keeps one per name.
 */
export function create(ctx: StoreContext) {
  return async (event: CloudFormationCustomResourceEvent): Promise<ProviderResponse> => {
    const name = String(event.ResourceProperties.Migration ?? '');
    if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
    if (event.RequestType === 'Update' && event.OldResourceProperties.Migration === name) {
      logger.info('migration already ran', { migration: name });
      return { PhysicalResourceId: event.PhysicalResourceId };
    }
    if (!(MIGRATIONS as readonly string[]).includes(name)) throw new Error(`unknown migration "${name}": this function knows ${MIGRATIONS.join(', ')}`);
    const done = await runSealingMigration(ctx);
    logger.info('migration done', { migration: name, api_keys_rekeyed: done.keys, record_items_sealed: done.records });
    return { PhysicalResourceId: name, Data: { ApiKeysRekeyed: String(done.keys), RecordItemsSealed: String(done.records) } };
  };
}

let instance: ReturnType<typeof create> | undefined;
export const handler = withLambdaContext((event: CloudFormationCustomResourceEvent) => (instance ??= create(lambdaContext()))(event));
