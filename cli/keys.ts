import { createKey } from '../pipeline/manage-keys.ts';
import type { Role } from '../pipeline/ports.ts';
import { localConfig } from '../local/config.ts';
import { localContext } from '../local/start.ts';
import { startLocalServices, type LocalServices } from '../local/services.ts';
import { createAdapters } from '../storage/adapters.ts';
import { ensureTable } from '../storage/dynamodb-table.ts';

/**
 * Creates a key. With an endpoint: through POST /keys with an editor key. With a table: straight into
 * a deployed DynamoDB table with the caller's AWS credentials (how the first editor key of a deployment
 * is made). Otherwise: in the local store (the one `npm start` keeps under LEDGER_DATA_DIR), starting its
 * servers for a moment if `npm start` is not running.
 */
export async function createKeyCommand(
  role: Role,
  name: string,
  remote?: { endpoint: string; key: string } | { table: string; region?: string },
): Promise<{ key_id: string; key: string }> {
  if (remote && 'table' in remote) {
    const adapters = createAdapters({ tableName: remote.table, bucketName: 'unused', dynamodb: remote.region ? { region: remote.region } : {} });
    return createKey(role, name, 'cli (AWS credentials)', adapters);
  }
  if (remote) {
    const res = await fetch(`${remote.endpoint.replace(/\/$/, '')}/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${remote.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role, name }),
    });
    const body = (await res.json()) as { key_id: string; key: string; detail?: string };
    if (res.status !== 201) throw new Error(`the endpoint refused (${res.status}): ${body.detail ?? ''}`);
    return body;
  }
  const cfg = localConfig();
  const endpoint = `http://127.0.0.1:${cfg.dynamodbPort}`;
  let services: LocalServices | undefined;
  const running = await fetch(endpoint, { method: 'POST' }).then(
    () => true,
    () => false,
  );
  if (!running) services = await startLocalServices({ dataDir: cfg.dataDir, dynamodbPort: cfg.dynamodbPort, s3Port: 0 });
  try {
    const ctx = localContext(cfg, { dynamodb: services?.dynamodbEndpoint ?? endpoint, s3: services?.s3Endpoint ?? `http://127.0.0.1:${cfg.s3Port}` });
    await ensureTable(ctx.dynamodb, cfg.tableName);
    return await createKey(role, name, 'cli', ctx);
  } finally {
    await services?.stop();
  }
}
