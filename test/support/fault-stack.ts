import { randomBytes } from 'node:crypto';
import type { AppContext } from '../../functions/config.ts';
import { SOFTWARE_NAME, SOFTWARE_VERSION } from '../../functions/config.ts';
import { startApiServer, type ApiServer } from '../../local/api-server.ts';
import { dynamodbClientConfig, s3ClientConfig, startLocalServices, type LocalServices, type LocalServicesOptions } from '../../local/services.ts';
import { registerBootstrapKey } from '../../pipeline/manage-keys.ts';
import { createAdapters } from '../../storage/adapters.ts';
import { ensureTable } from '../../storage/dynamodb-table.ts';
import { ensureBucket } from '../../storage/s3-bucket.ts';

/**
 * A stack on its OWN DynamoDB Local and S3 server processes (not the shared ones of global-setup), so
 * that a fault test may stop or kill them without breaking other test files.
 */
export interface FaultStack {
  services: LocalServices;
  ctx: AppContext;
  server: ApiServer;
  url: string;
  editorKey: string;
  tableName: string;
  bucketName: string;
  close(): Promise<void>;
}

export async function contextOn(endpoints: { dynamodb: string; s3: string }, tableName: string, bucketName: string): Promise<AppContext> {
  const adapters = createAdapters({ tableName, bucketName, dynamodb: dynamodbClientConfig(endpoints.dynamodb), s3: s3ClientConfig(endpoints.s3) });
  return { ...adapters, info: { name: SOFTWARE_NAME, version: SOFTWARE_VERSION, publicBaseUrl: `${endpoints.s3}/${bucketName}`, datasetName: 'rights-ledger-faults', bucketName }, publishing: { maxDropShare: 0.01 } };
}

export async function startFaultStack(opts: LocalServicesOptions = {}): Promise<FaultStack> {
  const services = await startLocalServices(opts);
  const suffix = randomBytes(4).toString('hex');
  const tableName = `ledger-fault-${suffix}`;
  const bucketName = `ledger-fault-${suffix}`;
  const ctx = await contextOn({ dynamodb: services.dynamodbEndpoint, s3: services.s3Endpoint }, tableName, bucketName);
  await ensureTable(ctx.dynamodb, tableName);
  await ensureBucket(ctx.s3, bucketName);
  const editorKey = `rl_fault_${randomBytes(24).toString('base64url')}`;
  await registerBootstrapKey(editorKey, ctx);
  const server = await startApiServer(ctx, { port: 0 });
  return {
    services,
    ctx,
    server,
    url: server.url,
    editorKey,
    tableName,
    bucketName,
    async close() {
      await server.close();
      for (const p of Object.values(services.processes)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGCONT');
      await services.stop();
    },
  };
}
