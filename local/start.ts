import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SOFTWARE_NAME, SOFTWARE_VERSION, type AppContext } from '../functions/config.ts';
import { LedgerError } from '../pipeline/errors.ts';
import { createKey, disableKey, registerBootstrapKey } from '../pipeline/manage-keys.ts';
import { publishRelease } from '../pipeline/publish-release.ts';
import type { KeyEncryptionKeys } from '../pipeline/sealing.ts';
import { createAdapters, forPublishing } from '../storage/adapters.ts';
import { DynamoDbKeyStore } from '../storage/dynamodb-key-store.ts';
import { DynamoDbRecordStore } from '../storage/dynamodb-record-store.ts';
import { documentClient, ensureTable } from '../storage/dynamodb-table.ts';
import { loadLocalKeyring, type LocalKeyring } from '../storage/kek-local.ts';
import { sealPlainItems } from '../storage/sealed-items.ts';
import { startApiServer } from './api-server.ts';
import { localConfig, type LocalConfig } from './config.ts';
import { PrerequisiteError, dynamodbClientConfig, s3ClientConfig, startLocalServices } from './services.ts';

export const EXAMPLE_FILE = fileURLToPath(new URL('../examples/records.ndjson', import.meta.url));

const say = (line: string) => process.stdout.write(`${line}\n`);

/** True when nothing listens on 127.0.0.1:port (checked before starting anything, to fail fast). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** The local stack's context: the same adapters as in AWS, pointed at the local servers, sealing under the local master keys. */
export function localContext(cfg: LocalConfig, endpoints: { dynamodb: string; s3: string }, keyring: KeyEncryptionKeys): AppContext {
  const adapters = createAdapters({ tableName: cfg.tableName, bucketName: cfg.bucketName, dynamodb: dynamodbClientConfig(endpoints.dynamodb), s3: s3ClientConfig(endpoints.s3), keyring });
  const publicBaseUrl = `${endpoints.s3}/${cfg.bucketName}`;
  return { ...adapters, info: { name: SOFTWARE_NAME, version: SOFTWARE_VERSION, publicBaseUrl, datasetName: SOFTWARE_NAME, bucketName: cfg.bucketName }, publishing: { maxDropShare: cfg.maxDropShare }, reviewPolicy: cfg.reviewPolicy };
}


/** Written in LEDGER_DATA_DIR once the store was brought up to sealed storage: outside the table, so nobody with only the table's port can make it run again. */
const SEALING_MARKER = 'sealing-migrated';

/** The master keys of the local stack (LEDGER_MASTER_KEY, or the key file in LEDGER_DATA_DIR, made on first use). */
export async function localKeyring(cfg: LocalConfig): Promise<{ keyring: LocalKeyring; created: boolean }> {
  await mkdir(cfg.dataDir, { recursive: true });
  return loadLocalKeyring(cfg.dataDir, cfg.masterKey);
}

/**
 * Once per data folder: API keys stored as bare SHA-256 are re-keyed under the deployment's secret, and
 * records stored in plain text are sealed. The marker lives beside the master key, not in the table: a
 * key item planted in the table later is never re-keyed, so it never authenticates.
 */
export async function migrateOnce(ctx: AppContext, cfg: Pick<LocalConfig, 'dataDir' | 'tableName'>): Promise<void> {
  const marker = join(cfg.dataDir, SEALING_MARKER);
  if (await access(marker).then(() => true, () => false)) return;
  const db = documentClient(ctx.dynamodb);
  const keys = await new DynamoDbKeyStore(db, cfg.tableName, (sha) => ctx.sealer.apiKeyMac(sha)).migrateLegacyKeys();
  const records = await sealPlainItems(db, cfg.tableName, ctx.sealer);
  if (keys + records > 0) say(`  sealed storage: ${keys} API keys re-keyed under the deployment's secret, ${records} record items sealed`);
  await writeFile(marker, `${new Date().toISOString()}\n`, { mode: 0o600 });
}

/**
 * Loads the example dataset through the real endpoint (as any contributor would), with a key made for
 * the purpose and disabled afterwards, then asks the endpoint for the first release.
 */
async function loadExample(ctx: AppContext, apiUrl: string): Promise<void> {
  const loader = await createKey('editor', 'example loader (disabled after use)', 'npm start', ctx);
  try {
    const body = await readFile(EXAMPLE_FILE);
    say(`loading the example dataset (${body.toString('utf8').trim().split('\n').length} records) through ${apiUrl}/records …`);
    const res = await fetch(`${apiUrl}/records`, { method: 'POST', headers: { authorization: `Bearer ${loader.key}`, 'content-type': 'application/x-ndjson' }, body });
    const out = (await res.json()) as { accepted: number; rejected: number; results: Array<{ id?: string; status: string; errors?: unknown }> };
    if (res.status !== 200 || out.rejected > 0) throw new Error(`the example dataset was not accepted (${res.status}): ${JSON.stringify(out).slice(0, 2000)}`);
    say(`  ${out.accepted} records accepted`);
    say('publishing the first release …');
    const pub = await fetch(`${apiUrl}/publish`, { method: 'POST', headers: { authorization: `Bearer ${loader.key}` } });
    const result = (await pub.json()) as { published: boolean; version?: string; reason?: string; detail?: string };
    if (pub.status !== 200) throw new Error(`the first release failed (${pub.status}): ${result.detail ?? JSON.stringify(result)}`);
    say(result.published ? `  release ${result.version} published` : `  nothing published: ${result.reason}`);
    if (ctx.reviewPolicy === 'four_eyes') say('  four eyes: the examples wait in the review queue for two editors (npm run ledger -- review …)');
  } finally {
    await disableKey(loader.key_id, { keyId: 'npm start', role: 'editor' }, ctx);
  }
}

/** `npm start`: the whole pipeline on this machine (RUN.md). Resolves when stopped with Ctrl-C. */
export async function runStart(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let cfg: LocalConfig;
  try {
    cfg = localConfig(env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  if (!(await portIsFree(cfg.port))) {
    process.stderr.write(`Port ${cfg.port} is already in use, so the API cannot start there: stop whatever is using it or set LEDGER_PORT to a free port, and run again.\n`);
    return 1;
  }
  say(`${SOFTWARE_NAME} ${SOFTWARE_VERSION}: starting on this machine (data in ${cfg.dataDir})`);
  say(`  ports: API ${cfg.port} (LEDGER_PORT), DynamoDB ${cfg.dynamodbPort} (LEDGER_DYNAMODB_PORT), S3 ${cfg.s3Port} (LEDGER_S3_PORT)`);
  say(`  review policy: ${cfg.reviewPolicy} (LEDGER_REVIEW_POLICY)`);
  let keyring: LocalKeyring;
  try {
    const loaded = await localKeyring(cfg);
    keyring = loaded.keyring;
    say(`  master key: ${keyring.description}${loaded.created ? ' (made now, mode 0600)' : ''}: it seals restricted fields and withheld names, and keys API keys.`);
    say(`    Without it the restricted data cannot be read: back it up, apart from the data (README "The master key").`);
  } catch (err) {
    process.stderr.write(`The master key could not be read: ${(err as Error).message}\n`);
    return 1;
  }
  let services;
  try {
    services = await startLocalServices({ dataDir: cfg.dataDir, dynamodbPort: cfg.dynamodbPort, s3Port: cfg.s3Port, buckets: [cfg.bucketName], log: (l) => say(`  ${l}`) });
  } catch (err) {
    process.stderr.write(`${err instanceof PrerequisiteError ? err.message : `the local servers did not start: ${(err as Error).message}`}\n`);
    return 1;
  }
  const stopAll: Array<() => Promise<void>> = [() => services.stop()];
  const shutdown = async (code: number) => {
    for (const stop of stopAll.reverse()) await stop().catch(() => undefined);
    return code;
  };
  try {
    const ctx = localContext(cfg, { dynamodb: services.dynamodbEndpoint, s3: services.s3Endpoint }, keyring);
    const added = await ensureTable(ctx.dynamodb, cfg.tableName);
    if (added.length > 0) {
      say(`  the store gained the indexes ${added.join(', ')}: bringing existing records up to date …`);
      say(`  ${await new DynamoDbRecordStore(documentClient(ctx.dynamodb), cfg.tableName).reindexHeads()} records updated`);
    }
    await migrateOnce(ctx, cfg);
    let api;
    try {
      api = await startApiServer(ctx, { port: cfg.port });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        process.stderr.write(`Port ${cfg.port} is already in use, so the API cannot start there: stop whatever is using it or set LEDGER_PORT to a free port, and run again.\n`);
        return await shutdown(1);
      }
      throw err;
    }
    stopAll.push(() => api.close());
    if (cfg.bootstrapKey) {
      const boot = await registerBootstrapKey(cfg.bootstrapKey, ctx);
      if (boot.state === 'disabled') say(`  warning: LEDGER_BOOTSTRAP_KEY is the key ${boot.key_id}, which was disabled: it answers 401. Unset it or set a new key, and restart.`);
      else say(`  bootstrap editor key ${boot.state === 'registered' ? 'registered' : 'already registered'} (${boot.key_id})`);
    }

    const empty = await ctx.records.isEmpty();
    let firstKey: string | undefined;
    if (empty && !cfg.bootstrapKey) {
      firstKey = (await createKey('editor', 'first editor key (npm start)', 'npm start', ctx)).key;
      say(`editor key (shown once, only its hash is stored; keep it): ${firstKey}`);
    }
    if (empty && cfg.loadExample) await loadExample(ctx, api.url);

    let timer: NodeJS.Timeout | undefined;
    if (cfg.publishIntervalSeconds) {
      timer = setInterval(() => {
        publishRelease(forPublishing(ctx), { maxDropShare: cfg.maxDropShare }).then(
          (r) => say(r.published ? `scheduled publish: release ${r.version}` : `scheduled publish: ${r.reason}`),
          (err) => say(`scheduled publish failed: ${err instanceof LedgerError ? `${err.message} ${JSON.stringify(err.errors ?? [])}` : (err as Error).message}`),
        );
      }, cfg.publishIntervalSeconds * 1000);
      stopAll.push(async () => clearInterval(timer));
    }

    const catalogUrl = `${ctx.info.publicBaseUrl}/catalog.json`;
    say('');
    say(`ready. Upload endpoint: ${api.url}   (GET ${api.url}/ tells the same)`);
    say(`public bucket:   ${ctx.info.publicBaseUrl}/   catalog: ${catalogUrl}   landing page: ${ctx.info.publicBaseUrl}/index.html`);
    if (firstKey) say(`editor key: printed above, once`);
    else say(`make a key: npm run ledger -- keys create --role editor   (works while this runs)`);
    say(`note: DynamoDB Local listens on every network interface (it has no option to bind 127.0.0.1 only): on a shared network, firewall port ${cfg.dynamodbPort}.`);
    say(`      What it exposes is sealed (restricted fields, withheld names, API keys), but anyone reaching it can still read the rest and delete or alter items.`);
    say(`master key: ${keyring.description}   (back it up: losing it loses the restricted data)`);
    say(`try:  curl -s ${api.url}/health`);
    say(`      npm run ledger -- download --from ${ctx.info.publicBaseUrl} --out ./release`);
    say(`      npm run ledger -- query --from ${ctx.info.publicBaseUrl} "SELECT claimant, metric, value_low, value_best, value_high FROM claims WHERE metric = 'killed'"`);
    say(cfg.publishIntervalSeconds ? `publishing every ${cfg.publishIntervalSeconds} s when something changed` : 'publish on request: POST /publish (or npm run ledger -- publish --endpoint … --key …)');
    say('Ctrl-C stops everything.');

    const signal = await new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    say(`\n${signal}: stopping …`);
    return await shutdown(0);
  } catch (err) {
    process.stderr.write(`npm start failed: ${(err as Error).message}\n`);
    return await shutdown(1);
  }
}
