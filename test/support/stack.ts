import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { AppContext } from '../../functions/config.ts';
import { SOFTWARE_NAME, SOFTWARE_VERSION } from '../../functions/config.ts';
import { startApiServer } from '../../local/api-server.ts';
import { dynamodbClientConfig, s3ClientConfig } from '../../local/services.ts';
import { registerBootstrapKey } from '../../pipeline/manage-keys.ts';
import { createAdapters } from '../../storage/adapters.ts';
import { ensureTable } from '../../storage/dynamodb-table.ts';
import { ensureBucket } from '../../storage/s3-bucket.ts';

export interface TestStack {
  url: string;
  ctx: AppContext;
  /** An editor key registered in this stack's table. */
  editorKey: string;
  /** The public base URL of this stack's bucket (plain HTTP GET). */
  publicBaseUrl: string;
  /** This stack's DynamoDB table (for tests that read raw items with the SDK). */
  tableName?: string;
  close(): Promise<void>;
}

/**
 * A fresh table and bucket on the shared local DynamoDB and S3 servers (started by global-setup), with
 * the real handlers served over HTTP on a free port: one per test file, so files never share state.
 */
export async function startTestStack(overrides: Partial<AppContext> = {}): Promise<TestStack> {
  const suffix = randomBytes(4).toString('hex');
  const s3Endpoint = inject('s3Endpoint');
  const tableName = `ledger-test-${suffix}`;
  const bucketName = `ledger-test-${suffix}`;
  const adapters = createAdapters({ tableName, bucketName, dynamodb: dynamodbClientConfig(inject('dynamodbEndpoint')), s3: s3ClientConfig(s3Endpoint) });
  await ensureTable(adapters.dynamodb, tableName);
  await ensureBucket(adapters.s3, bucketName);
  const publicBaseUrl = `${s3Endpoint}/${bucketName}`;
  const ctx: AppContext = { ...adapters, info: { name: SOFTWARE_NAME, version: SOFTWARE_VERSION, publicBaseUrl, datasetName: 'rights-ledger-test', bucketName }, publishing: { maxDropShare: 0.01 }, ...overrides };
  const editorKey = `rl_test_${randomBytes(24).toString('base64url')}`;
  await registerBootstrapKey(editorKey, ctx);
  const server = await startApiServer(ctx, { port: 0 });
  return { url: server.url, ctx, editorKey, publicBaseUrl, tableName, close: () => server.close() };
}

/** fetch with a bearer key and JSON (or a raw body with its own content type). */
export async function call(
  stack: { url: string },
  method: string,
  path: string,
  opts: { key?: string; json?: unknown; body?: string | Uint8Array; contentType?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  let body: string | Uint8Array | undefined = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  }
  if (opts.contentType) headers['content-type'] = opts.contentType;
  const res = await fetch(`${stack.url}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}
