import { randomBytes } from 'node:crypto';
import type { AppContext } from '../../functions/config.ts';
import { SOFTWARE_NAME, SOFTWARE_VERSION } from '../../functions/config.ts';
import { startApiServer, type ApiServer } from '../../local/api-server.ts';
import { dynamodbClientConfig, s3ClientConfig, startLocalServices, type LocalServices, type LocalServicesOptions } from '../../local/services.ts';
import { registerBootstrapKey } from '../../pipeline/manage-keys.ts';
import { createAdapters, type ClientTimeouts } from '../../storage/adapters.ts';
import { ensureTable } from '../../storage/dynamodb-table.ts';
import { ensureBucket } from '../../storage/s3-bucket.ts';

/**
 * A stack on its OWN DynamoDB Local and S3 server processes (not the shared ones of global-setup), so
 * that a fault test may stop or kill them without breaking other test files.
 */
export interface FaultStack {
  services: LocalServices;
  ctx: AppContext;
  /** The same table and bucket through clients with long timeouts: for checking what is stored. */
  observer: AppContext;
  server: ApiServer;
  url: string;
  editorKey: string;
  tableName: string;
  bucketName: string;
  close(): Promise<void>;
}

/**
 * A context on these endpoints. `timeouts`: a test's own observer (checking what is stored) passes long
 * ones, so that a slow but healthy server on a loaded machine is not taken for the fault under test.
 */
export async function contextOn(endpoints: { dynamodb: string; s3: string }, tableName: string, bucketName: string, timeouts?: Partial<ClientTimeouts>): Promise<AppContext> {
  const adapters = createAdapters({ tableName, bucketName, dynamodb: dynamodbClientConfig(endpoints.dynamodb), s3: s3ClientConfig(endpoints.s3), timeouts });
  return { ...adapters, info: { name: SOFTWARE_NAME, version: SOFTWARE_VERSION, publicBaseUrl: `${endpoints.s3}/${bucketName}`, datasetName: 'rights-ledger-faults', bucketName }, publishing: { maxDropShare: 0.01 } };
}

/** Timeouts for observers: a loaded 2-core machine can keep a healthy DynamoDB Local silent for seconds. */
export const PATIENT: Partial<ClientTimeouts> = { dynamodbRequestMs: 60_000, s3SocketIdleMs: 60_000, connectionMs: 10_000 };

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
  const observer = await contextOn({ dynamodb: services.dynamodbEndpoint, s3: services.s3Endpoint }, tableName, bucketName, PATIENT);
  return {
    services,
    ctx,
    observer,
    server,
    url: server.url,
    editorKey,
    tableName,
    bucketName,
    async close() {
      await server.close();
      observer.dynamodb.destroy();
      observer.s3.destroy();
      for (const p of Object.values(services.processes)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGCONT');
      await services.stop();
    },
  };
}
