// What never leaves the store is sealed IN the store (issue 12): canaries planted in every restricted
// field and withheld name, submitted as contributor and editor, revised, reviewed and retracted, are
// then looked for in every attribute of every item of the raw table (read with the SDK and made-up
// credentials, as anyone on DynamoDB Local's port could), in the logs and in the bucket after a publish.
// Editors still read them through the API; a sealed value moved elsewhere does not open; key items
// forged in the table never authenticate; a KEK rotation keeps every record readable.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SOFTWARE_NAME, SOFTWARE_VERSION, type AppContext } from '../../functions/config.ts';
import { logger } from '../../functions/logger.ts';
import { startApiServer, type ApiServer } from '../../local/api-server.ts';
import { dynamodbClientConfig, s3ClientConfig } from '../../local/services.ts';
import { migrateOnce } from '../../local/start.ts';
import { canonicalJson, sha256Hex } from '../../pipeline/canonical.ts';
import type { StoredContent } from '../../pipeline/ports.ts';
import { registerBootstrapKey } from '../../pipeline/manage-keys.ts';
import { EnvelopeSealer, SealError, isSealed, type KeyEncryptionKeys } from '../../pipeline/sealing.ts';
import { createAdapters } from '../../storage/adapters.ts';
import { documentClient, ensureTable, keys } from '../../storage/dynamodb-table.ts';
import { LocalKeyring, MASTER_KEY_FILE, addMasterKey, loadLocalKeyring, parseMasterKeys } from '../../storage/kek-local.ts';
import { ensureBucket } from '../../storage/s3-bucket.ts';
import { rewrapSealedItems, rotationInProgress } from '../../storage/sealed-items.ts';
import { claim, event, fetchObject, listKeys, person, removeDir, source, sqlString, uid, withDuckDb, type Json, type Rec } from '../support/release.ts';
import { call, type TestStack } from '../support/stack.ts';

type Item = Record<string, unknown>;

let dir: string;
let stack: TestStack;
let server: ApiServer;
let keyring: LocalKeyring;
/** KEK calls made by the stack, counted. */
const kekCalls = { generate: 0, unwrap: 0 };
let contributor: { key: string; id: string };
const logs: string[] = [];
const restoreWrites: Array<() => void> = [];

const canaries = new Map<string, string>();
const canary = (where: string): string => {
  const c = `CANARY${randomBytes(6).toString('hex')}`;
  canaries.set(c, where);
  return c;
};
const restricted = (id: string, rev: number): Rec => ({ restricted: { submitter_contact: canary(`${id}@${rev}.restricted.submitter_contact`), witness: canary(`${id}@${rev}.restricted.witness`), notes: canary(`${id}@${rev}.restricted.notes`) } });
const withheld = (id: string, rev: number): Rec => ({ name: canary(`${id}@${rev}.name`), name_fa: `نام ${canary(`${id}@${rev}.name_fa`)}`, name_disclosure: 'withheld' });

/** The expected content of each record's newest revision, as sent (editors read it back whole). */
const sent = new Map<string, Rec>();
const submit = async (key: string, records: Rec[]) => {
  const r = await call(stack, 'POST', '/records', { key, json: { records } });
  expect(r.status, r.text).toBe(200);
  expect(r.body.rejected, r.text).toBe(0);
  for (const rec of records) sent.set(rec.id as string, rec);
  return r.body;
};

/** A counting wrapper: how often the stack asked its KEK for a data key or an unwrap. */
function counted(inner: KeyEncryptionKeys): KeyEncryptionKeys {
  return {
    get description() {
      return inner.description;
    },
    generateDataKey: () => (kekCalls.generate++, inner.generateDataKey()),
    unwrap: (w) => (kekCalls.unwrap++, inner.unwrap(w)),
    rewrap: (w) => inner.rewrap(w),
    deploymentSecret: () => inner.deploymentSecret(),
  };
}

/** Every item of the raw table, read as an outsider would: another client, made-up credentials. */
async function rawItems(): Promise<Item[]> {
  const outsider = documentClient(new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'eu-west-1', credentials: { accessKeyId: 'nobody', secretAccessKey: 'anything' } }));
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const out = await outsider.send(new ScanCommand({ TableName: stack.ctx.settings.tableName, ExclusiveStartKey: start }));
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  // Every index too (they project every attribute): nothing lives there that the table does not hold, but look.
  return items;
}

const found = (text: string) => [...canaries.keys()].filter((c) => text.includes(c)).map((c) => canaries.get(c)!);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ledger-sealed-'));
  keyring = (await loadLocalKeyring(dir)).keyring;
  const suffix = randomBytes(4).toString('hex');
  const tableName = `ledger-sealed-${suffix}`;
  const s3Endpoint = inject('s3Endpoint');
  const adapters = createAdapters({ tableName, bucketName: tableName, dynamodb: dynamodbClientConfig(inject('dynamodbEndpoint')), s3: s3ClientConfig(s3Endpoint), keyring: counted(keyring) });
  await ensureTable(adapters.dynamodb, tableName);
  await ensureBucket(adapters.s3, tableName);
  const publicBaseUrl = `${s3Endpoint}/${tableName}`;
  const ctx: AppContext = { ...adapters, info: { name: SOFTWARE_NAME, version: SOFTWARE_VERSION, publicBaseUrl, datasetName: 'rights-ledger-test', bucketName: tableName }, publishing: { maxDropShare: 0.01 } };
  const editorKey = `rl_test_${randomBytes(24).toString('base64url')}`;
  await registerBootstrapKey(editorKey, ctx);
  server = await startApiServer(ctx, { port: 0 });
  stack = { url: server.url, ctx, editorKey, publicBaseUrl, close: () => server.close() };

  // Every log line from here on, at every level.
  logger.setLogLevel('DEBUG');
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      logs.push(String(chunk));
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restoreWrites.push(() => (stream.write = write));
  }

  const r = await call(stack, 'POST', '/keys', { key: editorKey, json: { role: 'contributor', name: 'sealed-test' } });
  contributor = { key: r.body.key, id: r.body.key_id };

  // Revision 1, by the editor (approved on arrival): every kind, every restricted field, withheld names.
  await submit(editorKey, [
    source('src-s1', restricted('src-s1', 1)),
    event('evt-s1', ['src-s1'], restricted('evt-s1', 1)),
    claim('clm-s1', ['src-s1'], { ...restricted('clm-s1', 1), event_id: 'evt-s1' }),
    person('per-ed', ['src-s1'], { ...restricted('per-ed', 1), ...withheld('per-ed', 1), fate: 'killed' }),
    person('per-retracted', ['src-s1'], { ...restricted('per-retracted', 1), ...withheld('per-retracted', 1) }),
    person('per-public', ['src-s1'], { name: 'Public Name Example', name_disclosure: 'public_record', fate: 'executed' }),
  ]);
  // By the contributor (pending): new records, and revisions of the editor's.
  await submit(contributor.key, [
    person('per-co', ['src-s1'], { ...restricted('per-co', 1), ...withheld('per-co', 1) }),
    person('per-rejected', ['src-s1'], { ...restricted('per-rejected', 1), ...withheld('per-rejected', 1) }),
    source('src-s1', restricted('src-s1', 2)),
    person('per-ed', ['src-s1'], { ...restricted('per-ed', 2), ...withheld('per-ed', 2), fate: 'killed' }),
  ]);
  // Revised again by the editor, reviewed, rejected, retracted.
  await submit(editorKey, [event('evt-s1', ['src-s1'], { ...restricted('evt-s1', 2), description: 'revised' })]);
  for (const [kind, id, decision] of [['person', 'per-co', 'approve'], ['source', 'src-s1', 'approve'], ['person', 'per-rejected', 'reject'], ['person', 'per-ed', 'approve']] as const) {
    const res = await call(stack, 'POST', `/records/${kind}/${id}/review`, { key: editorKey, json: { decision } });
    expect(res.status, res.text).toBe(200);
  }
  const rt = await call(stack, 'POST', '/records/person/per-retracted/retract', { key: editorKey, json: { reason: 'wrong person' } });
  expect(rt.status, rt.text).toBe(200);
  const pub = await call(stack, 'POST', '/publish', { key: editorKey });
  expect(pub.status, pub.text).toBe(200);
  expect(pub.body.published, pub.text).toBe(true);
});

afterAll(async () => {
  for (const restore of restoreWrites) restore();
  logger.setLogLevel((process.env.LEDGER_LOG_LEVEL as 'WARN' | undefined) ?? 'INFO');
  await server?.close();
  await removeDir(dir);
});

describe('nothing restricted is in plain text anywhere', () => {
  it('no canary in any attribute of any item of the raw table (scanned with made-up credentials)', async () => {
    const items = await rawItems();
    const hits = items.flatMap((item) => found(JSON.stringify(item)).map((where) => `${where} in ${item.pk} ${item.sk}`));
    expect(hits).toEqual([]);
    // Not vacuous: the records are there, sealed, every revision of them.
    expect(items.filter((i) => String(i.sk).startsWith('REV#')).length).toBeGreaterThanOrEqual(11);
    expect(items.filter((i) => String(i.content ?? '').includes('"$sealed":1')).length).toBeGreaterThanOrEqual(15);
    expect(canaries.size).toBeGreaterThan(35);
  });

  it('no content hash in the table is the bare SHA-256 of a content (no offline guessing oracle)', async () => {
    const items = (await rawItems()).filter((i) => typeof i.content_sha256 === 'string');
    expect(items.length).toBeGreaterThan(10);
    for (const item of items) {
      // The content as stored in plain form (what the hash covers), opened as an editor would.
      const plain = await stack.ctx.sealer.reveal({ id: item.id as string, kind: item.kind as never, revision: item.revision as number }, JSON.parse(item.content as string), 'all');
      expect(item.content_sha256, `${item.pk} ${item.sk}`).not.toBe(sha256Hex(canonicalJson(plain)));
      expect(item.content_sha256).toBe(await stack.ctx.sealer.contentMac(plain));
    }
  });

  it('no API key item is keyed by the bare SHA-256 of a key, and no item holds one', async () => {
    const text = JSON.stringify(await rawItems());
    for (const key of [stack.editorKey, contributor.key]) {
      expect(text).not.toContain(sha256Hex(key));
      expect(text).not.toContain(key);
    }
  });

  it('no canary in the logs (every level, every request above)', () => {
    expect(logs.filter((l) => l.includes('"message":"request"')).length).toBeGreaterThan(5);
    expect(found(logs.join('\n'))).toEqual([]);
  });

  it('no canary in the bucket after the publish (raw bytes, gunzipped, Parquet rows)', async () => {
    const objectKeys = await listKeys(stack.ctx.objects, '');
    expect(objectKeys.some((k) => k.endsWith('.parquet'))).toBe(true);
    const work = await mkdtemp(join(dir, 'bucket-'));
    const texts: string[] = [];
    await withDuckDb(async (q) => {
      for (const [i, key] of objectKeys.entries()) {
        const bytes = await fetchObject(stack.publicBaseUrl, key);
        texts.push(bytes.toString('latin1'), bytes.toString('utf8'));
        if (key.endsWith('.gz')) texts.push(gunzipSync(bytes).toString('utf8'));
        if (key.endsWith('.parquet')) {
          const file = join(work, `${i}.parquet`);
          await writeFile(file, bytes);
          texts.push(JSON.stringify(await q(`SELECT * FROM read_parquet(${sqlString(file)})`)));
        }
      }
    });
    const all = texts.join('\n');
    expect(found(all)).toEqual([]);
    // The publisher published what it may without a key: the public name, in plain text.
    expect(all).toContain('Public Name Example');
    expect(all).not.toContain('$sealed');
  });
});

describe('who still reads them, through the API', () => {
  it('an editor reads every record whole: restricted and withheld names as sent', async () => {
    for (const [id, rec] of sent) {
      const r = await call(stack, 'GET', `/records/${rec.kind}/${id}`, { key: stack.editorKey });
      expect(r.status, r.text).toBe(200);
      expect(r.body, id).toMatchObject(rec);
      expect(r.body.restricted, id).toEqual(rec.restricted);
    }
  });

  it("an editor's history shows every revision's sealed values, the approved ones included", async () => {
    const h = await call(stack, 'GET', '/records/person/per-ed/history', { key: stack.editorKey });
    expect(h.status, h.text).toBe(200);
    const where = found(h.text);
    expect(where).toEqual(expect.arrayContaining(['per-ed@1.name', 'per-ed@2.name', 'per-ed@1.restricted.witness', 'per-ed@2.restricted.witness']));
  });

  it("an editor's review queue shows the restricted changes of a pending revision", async () => {
    await submit(contributor.key, [source('src-s1', restricted('src-s1', 3))]);
    const q = await call(stack, 'GET', '/records?status=pending&kind=source', { key: stack.editorKey });
    const item = q.body.items.find((x: Json) => x.id === 'src-s1');
    expect(item.patch).toEqual(expect.arrayContaining([{ op: 'replace', path: '/restricted/witness', value: (sent.get('src-s1')!.restricted as Rec).witness }]));
  });

  it('the contributor that sent a withheld name reads it back, never restricted; other contributors get the redacted form', async () => {
    const own = await call(stack, 'GET', '/records/person/per-co', { key: contributor.key });
    expect(own.body.name).toBe(sent.get('per-co')!.name);
    expect(own.body).not.toHaveProperty('restricted');
    expect(found(own.text).every((w) => w.endsWith('.name') || w.endsWith('.name_fa'))).toBe(true);
    const other = await call(stack, 'POST', '/keys', { key: stack.editorKey, json: { role: 'contributor', name: 'other' } });
    await submit(other.body.key, [person('per-co', ['src-s1'], { ...restricted('per-co', 9), ...withheld('per-co', 9) })]);
    const theirs = await call(stack, 'GET', '/records/person/per-co', { key: contributor.key });
    expect(theirs.body.name).toBeNull();
    expect(found(theirs.text)).toEqual([]);
  });

  it('resubmitting the same content is still "unchanged" (the keyed hash holds), and an edit of a restricted field is a new revision', async () => {
    const rec = sent.get('clm-s1')!;
    const again = await submit(stack.editorKey, [rec]);
    expect(again.results[0].status).toBe('unchanged');
    const edited = await submit(stack.editorKey, [{ ...rec, restricted: { notes: canary('clm-s1@2.restricted.notes') } }]);
    expect(edited.results[0]).toMatchObject({ status: 'updated', revision: 2 });
    const [, rev2] = await stack.ctx.records.listRevisions('clm-s1');
    expect(rev2!.changed_fields).toEqual(['/restricted']);
  });
});

describe('a sealed value moved elsewhere does not open', () => {
  const db = () => documentClient(stack.ctx.dynamodb);
  const headItem = async (id: string) => (await db().send(new GetCommand({ TableName: stack.ctx.settings.tableName, Key: keys.head(id), ConsistentRead: true }))).Item!;

  it("another record's restricted, copied into this head: the editor's read fails (500, nothing shown), and the sealer refuses it", async () => {
    const from = JSON.parse((await headItem('per-co')).content as string);
    const target = await headItem('per-public');
    const content = { ...JSON.parse(target.content as string), restricted: from.restricted };
    expect(isSealed(content.restricted)).toBe(true);
    const setContent = (c: string) => db().send(new UpdateCommand({ TableName: stack.ctx.settings.tableName, Key: keys.head('per-public'), UpdateExpression: 'SET content = :c', ExpressionAttributeValues: { ':c': c } }));
    await setContent(JSON.stringify(content));
    try {
      const r = await call(stack, 'GET', '/records/person/per-public', { key: stack.editorKey });
      expect(r.status).toBe(500);
      expect(found(r.text)).toEqual([]);
      await expect(stack.ctx.sealer.reveal({ id: 'per-public', kind: 'person', revision: target.revision as number }, content, 'all')).rejects.toThrow(SealError);
    } finally {
      await setContent(target.content as string);
    }
    expect((await call(stack, 'GET', '/records/person/per-public', { key: stack.editorKey })).status).toBe(200);
  });

  it("an older revision's sealed name, put in place of the newest one's: refused", async () => {
    const [rev1, rev2] = await stack.ctx.records.listRevisions('per-ed');
    const swapped = { ...rev2!.content, name: (rev1!.content as Rec).name } as unknown as StoredContent;
    expect(isSealed((rev1!.content as Rec).name)).toBe(true);
    await expect(stack.ctx.sealer.reveal({ id: 'per-ed', kind: 'person', revision: 2 }, swapped, 'all')).rejects.toThrow(SealError);
    expect(await stack.ctx.sealer.reveal({ id: 'per-ed', kind: 'person', revision: 2 }, rev2!.content, 'all')).toMatchObject({ name: sent.get('per-ed')!.name });
  });
});

describe('API keys are bound to the deployment', () => {
  const table = () => stack.ctx.settings.tableName;
  const put = (item: Item) => documentClient(stack.ctx.dynamodb).send(new PutCommand({ TableName: table(), Item: item }));
  const status = async (key: string) => (await call(stack, 'POST', '/keys', { key, json: { role: 'contributor', name: 'x' } })).status;

  it('an editor item planted as KEY#sha256(key), in the old format or the current one, never authenticates', async () => {
    for (const format of [{}, { key_format: 1 }]) {
      const key = `rl_forged_${randomBytes(24).toString('base64url')}`;
      await put({ ...keys.apiKey(sha256Hex(key)), key_id: 'key_forged', key_sha256: sha256Hex(key), role: 'editor', name: 'forged', created_at: new Date().toISOString(), created_by: 'x', disabled: false, ...format });
      expect(await status(key)).toBe(401);
    }
  });

  it('an item in the current format, keyed by an HMAC under any other secret, never authenticates', async () => {
    const key = `rl_forged_${randomBytes(24).toString('base64url')}`;
    const guessed = await new EnvelopeSealer(new LocalKeyring([randomBytes(32)])).apiKeyMac(sha256Hex(key));
    await put({ ...keys.apiKey(guessed), key_id: 'key_forged2', role: 'editor', name: 'forged', created_at: new Date().toISOString(), created_by: 'x', disabled: false, key_format: 1 });
    expect(await status(key)).toBe(401);
    expect(await status(stack.editorKey)).toBe(201);
  });

  it('keys stored as bare SHA-256 before the upgrade keep working after the one-time migration; one planted after it never does', async () => {
    const legacy = `rl_legacy_${randomBytes(24).toString('base64url')}`;
    const legacyItem = (key: string, id: string) => ({ ...keys.apiKey(sha256Hex(key)), key_id: id, key_sha256: sha256Hex(key), role: 'editor', name: 'made before sealing', created_at: new Date().toISOString(), created_by: 'cli', disabled: false });
    await put(legacyItem(legacy, 'key_legacy'));
    await put({ ...keys.apiKeyId('key_legacy'), key_sha256: sha256Hex(legacy) });
    expect(await status(legacy)).toBe(401);
    const dataDir = await mkdtemp(join(dir, 'data-'));
    await migrateOnce(stack.ctx, { dataDir, tableName: table() });
    expect(await status(legacy)).toBe(201);
    // Disabling still finds it by its id.
    const [{ key_id }] = [{ key_id: 'key_legacy' }];
    expect((await call(stack, 'POST', `/keys/${key_id}/disable`, { key: stack.editorKey })).status).toBe(200);
    expect(await status(legacy)).toBe(401);
    const late = `rl_late_${randomBytes(24).toString('base64url')}`;
    await put(legacyItem(late, 'key_late'));
    await migrateOnce(stack.ctx, { dataDir, tableName: table() });
    expect(await status(late)).toBe(401);
  });
});

describe('KMS-like cost: data keys are cached', () => {
  it('KEK calls per request do not grow with the batch size', async () => {
    const batch = (n: number) => Array.from({ length: n }, (_, i) => person(uid(`per-cost-${n}-${i}`), ['src-s1'], { ...withheld(`cost-${i}`, 1), restricted: { notes: 'n' } }));
    const before = { ...kekCalls };
    await submit(stack.editorKey, batch(1));
    await submit(stack.editorKey, batch(300));
    expect(kekCalls.generate - before.generate).toBeLessThanOrEqual(1);
    const page = await call(stack, 'GET', '/records?status=approved&kind=person&limit=500', { key: stack.editorKey });
    expect(page.body.items.length).toBeGreaterThan(300);
    expect(kekCalls.unwrap - before.unwrap).toBeLessThanOrEqual(3);
  });
});

describe('KEK rotation', () => {
  it('re-wraps every stored data key under the new KEK, resumably, and every record stays readable', async () => {
    const file = join(dir, MASTER_KEY_FILE);
    await addMasterKey(file);
    const rotated = (await loadLocalKeyring(dir)).keyring;
    expect(rotated.currentId).not.toBe(keyring.currentId);
    const sealer = new EnvelopeSealer(rotated);
    const db = documentClient(stack.ctx.dynamodb);
    const table = stack.ctx.settings.tableName;
    // Interrupted after its first page: the position stays in the table, and the next run resumes.
    await expect(
      rewrapSealedItems(db, table, sealer, () => {
        throw new Error('interrupted');
      }, 5),
    ).rejects.toThrow('interrupted');
    expect(await rotationInProgress(db, table)).toBe(true);
    const done = await rewrapSealedItems(db, table, sealer, undefined, 5);
    expect(done.resumed).toBe(true);
    expect(await rotationInProgress(db, table)).toBe(false);

    // Every sealed value now names the new KEK; none the old one.
    const wrapped = (await rawItems()).flatMap((i) => [i.content, i.approved].filter((c): c is string => typeof c === 'string').flatMap((c) => Object.values(JSON.parse(c)).filter(isSealed).map((v) => v.dk)));
    expect(wrapped.length).toBeGreaterThan(20);
    expect(wrapped.filter((dk) => !dk.includes(rotated.currentId))).toEqual([]);
    // A keyring holding the new key alone opens every one of them: the old KEK is no longer needed for any.
    const newest = parseMasterKeys(await readFile(file, 'utf8'), file)[0]!;
    const onlyNew = new EnvelopeSealer(new LocalKeyring([newest]));
    for (const item of await rawItems()) {
      if (typeof item.content !== 'string' || !(String(item.sk) === 'HEAD' || String(item.sk).startsWith('REV#'))) continue;
      await onlyNew.reveal({ id: item.id as string, kind: item.kind as never, revision: item.revision as number }, JSON.parse(item.content), 'all');
    }
    // The running server (which loaded the key file before the rotation) still reads everything, and its API keys still work.
    for (const [id, rec] of sent) {
      const r = await call(stack, 'GET', `/records/${rec.kind}/${id}`, { key: stack.editorKey });
      expect(r.status, `${id}: ${r.text}`).toBe(200);
      expect(r.body.restricted ?? null).toEqual(rec.restricted ?? null);
    }
  });
});
