import { join } from 'node:path';
import type { AppContext } from '../functions/config.ts';
import { localConfig, type LocalConfig } from '../local/config.ts';
import { startLocalServices, type LocalServices } from '../local/services.ts';
import { localContext, localKeyring } from '../local/start.ts';
import { createKey } from '../pipeline/manage-keys.ts';
import type { Role } from '../pipeline/ports.ts';
import { createAdapters } from '../storage/adapters.ts';
import { documentClient, ensureTable } from '../storage/dynamodb-table.ts';
import { KmsKeyring } from '../storage/kek-kms.ts';
import { kmsAliases } from '../infra/kms-names.ts';
import type { KeyEncryptionKeys } from '../pipeline/sealing.ts';
import { addMasterKey, MASTER_KEY_FILE, type LocalKeyring } from '../storage/kek-local.ts';
import { countRecordItems, rewrapSealedItems, rotationInProgress } from '../storage/sealed-items.ts';
import { progressBar } from './progress.ts';

/**
 * Creates a key. With an endpoint: through POST /keys with an editor key. With a table: straight into
 * a deployed DynamoDB table with the caller's AWS credentials (how the first editor key of a deployment
 * is made). Otherwise: in the local store (the one `npm start` keeps under LEDGER_DATA_DIR), starting its
 * servers for a moment if `npm start` is not running.
 */
export async function createKeyCommand(
  role: Role,
  name: string,
  remote?: { endpoint: string; key: string } | DeployedTable,
): Promise<{ key_id: string; key: string }> {
  if (remote && 'table' in remote) {
    // The key is stored as an HMAC under the deployment's secret: the deployment's KMS keys are needed.
    const keyring = keyringOf(remote);
    const adapters = createAdapters({ tableName: remote.table, bucketName: 'unused', dynamodb: remote.region ? { region: remote.region } : {}, keyring });
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
  return withLocalStore(async (ctx) => createKey(role, name, 'cli', ctx));
}

/** A deployed table, with the deployment's KMS keys (default: the aliases infra/stateful-stack.ts makes for that table), or a keyring given directly. */
export type DeployedTable = { table: string; region?: string } & ({ kmsKeyId?: string; kmsMacKeyId?: string } | { keyring: KeyEncryptionKeys });

function keyringOf(remote: DeployedTable): KeyEncryptionKeys {
  if ('keyring' in remote) return remote.keyring;
  const names = kmsAliases(remote.table);
  return new KmsKeyring({ keyId: remote.kmsKeyId ?? names.records, macKeyId: remote.kmsMacKeyId ?? names.mac, client: remote.region ? { region: remote.region } : {} });
}

/**
 * Runs `fn` on the local store (the one `npm start` keeps under LEDGER_DATA_DIR), sealing under its
 * master keys, starting its servers for a moment if `npm start` is not running.
 */
async function withLocalStore<T>(fn: (ctx: AppContext, keyring: LocalKeyring) => Promise<T>, cfg: LocalConfig = localConfig()): Promise<T> {
  const { keyring } = await localKeyring(cfg);
  const endpoint = `http://127.0.0.1:${cfg.dynamodbPort}`;
  let services: LocalServices | undefined;
  const running = await fetch(endpoint, { method: 'POST' }).then(
    () => true,
    () => false,
  );
  if (!running) services = await startLocalServices({ dataDir: cfg.dataDir, dynamodbPort: cfg.dynamodbPort, s3Port: 0 });
  try {
    const ctx = localContext(cfg, { dynamodb: services?.dynamodbEndpoint ?? endpoint, s3: services?.s3Endpoint ?? `http://127.0.0.1:${cfg.s3Port}` }, keyring);
    await ensureTable(ctx.dynamodb, cfg.tableName);
    return await fn(ctx, keyring);
  } finally {
    await services?.stop();
  }
}

export interface RotationSummary {
  /** Where the KEK that now wraps every data key is. */
  kek: string;
  /** A new local master key was made (false: a rotation left unfinished was resumed, or the KEK is given). */
  newKey: boolean;
  resumed: boolean;
  items: number;
  rewrapped: number;
}

/**
 * `keys rotate-kek`: a new key-encryption key wraps new data keys from now on, and every stored data key
 * is re-wrapped under it, with a progress bar. Resumable: run it again after an interruption and it
 * continues where it stopped (no second new key is made). Locally a new master key is prepended to the
 * key file (the older ones stay: they still unwrap, and the oldest roots the HMAC secret); with
 * LEDGER_MASTER_KEY, prepend a new key there yourself and run this. In AWS (`--table`), data keys are
 * re-wrapped under `--kms-key` (KMS's own yearly rotation needs no re-wrap).
 */
export async function rotateKekCommand(remote?: DeployedTable, progress = progressBar): Promise<RotationSummary> {
  const run = async (ctx: AppContext, kek: string, newKey: boolean): Promise<RotationSummary> => {
    const db = documentClient(ctx.dynamodb);
    const table = ctx.settings.tableName;
    const total = await countRecordItems(db, table);
    const bar = progress('re-wrapping data keys', total, 'items');
    try {
      const r = await rewrapSealedItems(db, table, ctx.sealer, (p) => bar.update(Math.min(p.done, total)));
      bar.update(total);
      return { kek, newKey, resumed: r.resumed, items: r.done, rewrapped: r.rewrapped };
    } finally {
      bar.stop();
    }
  };
  if (remote) {
    const keyring = keyringOf(remote);
    const adapters = createAdapters({ tableName: remote.table, bucketName: 'unused', dynamodb: remote.region ? { region: remote.region } : {}, keyring });
    return run(adapters as AppContext, keyring.description, false);
  }
  const cfg = localConfig();
  const file = join(cfg.dataDir, MASTER_KEY_FILE);
  return withLocalStore(async (ctx) => {
    const unfinished = await rotationInProgress(documentClient(ctx.dynamodb), cfg.tableName);
    if (unfinished || cfg.masterKey) return run(ctx, cfg.masterKey ? 'LEDGER_MASTER_KEY (its first key)' : file, false);
    await addMasterKey(file);
    // A fresh context: its keyring reads the file with the new key first.
    const { keyring } = await localKeyring(cfg);
    return run({ ...ctx, ...createAdapters({ ...ctx.settings, keyring }) }, file, true);
  }, cfg);
}
