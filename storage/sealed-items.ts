import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { canonicalJson, sha256Hex } from '../pipeline/canonical.ts';
import type { StoredContent } from '../pipeline/ports.ts';
import { hasPlainSecrets, isSealed, type EnvelopeSealer, type SealedValue } from '../pipeline/sealing.ts';
import type { RecordKind } from '../schemas/records.ts';

/**
 * Walks over the items that hold record contents (heads and revisions) in the raw table, to rewrite
 * their sealed values: re-wrapping data keys under the current KEK (rotation), or sealing contents
 * written before sealing existed (a one-time migration). Each item is rewritten on a condition, so a
 * concurrent writer never loses its write: a head's version is raised (the writer re-reads it), a
 * revision must still hold what was read.
 */

type Item = Record<string, unknown>;

const RECORD_ITEMS = { FilterExpression: 'begins_with(pk, :rec) AND (sk = :head OR begins_with(sk, :rev))', ExpressionAttributeValues: { ':rec': 'REC#', ':head': 'HEAD', ':rev': 'REV#' } };
/** Where a rotation left off: resumed by the next run. */
const CHECKPOINT = { pk: 'KEKROTATION', sk: 'STATE' };

const parse = (text: unknown): StoredContent | undefined => (typeof text === 'string' ? (JSON.parse(text) as StoredContent) : undefined);

/** How many record items (heads and revisions) the table holds: the total of the progress bar. */
export async function countRecordItems(db: DynamoDBDocumentClient, table: string): Promise<number> {
  let start: Item | undefined;
  let n = 0;
  do {
    const out = await db.send(new ScanCommand({ TableName: table, ...RECORD_ITEMS, Select: 'COUNT', ExclusiveStartKey: start }));
    n += out.Count ?? 0;
    start = out.LastEvaluatedKey;
  } while (start);
  return n;
}

/** Writes `changes` to one head or revision item, on the condition that it is still what was read. */
async function rewrite(db: DynamoDBDocumentClient, table: string, item: Item, changes: Item): Promise<boolean> {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets = Object.entries(changes).map(([k, v], i) => {
    names[`#a${i}`] = k;
    values[`:a${i}`] = v;
    return `#a${i} = :a${i}`;
  });
  let condition: string;
  if (item.sk === 'HEAD') {
    names['#v'] = 'version';
    values[':v'] = item.version;
    values[':one'] = 1;
    sets.push('#v = #v + :one');
    condition = '#v = :v';
  } else {
    names['#c'] = 'content';
    values[':c'] = item.content;
    condition = '#c = :c';
  }
  try {
    await db.send(new UpdateCommand({ TableName: table, Key: { pk: item.pk, sk: item.sk }, UpdateExpression: `SET ${sets.join(', ')}`, ConditionExpression: condition, ExpressionAttributeNames: names, ExpressionAttributeValues: values }));
    return true;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return false;
    throw err;
  }
}

export interface RotationProgress {
  /** Items looked at so far (this run and the run it resumed). */
  done: number;
  /** Items whose sealed values were re-wrapped. */
  rewrapped: number;
}

/**
 * Re-wraps every sealed value's data key under the current KEK (`keys rotate-kek`). Resumable: the
 * scan position is kept in the table after every page, and a later run continues from it; items
 * already under the current KEK are left as they are. An item changed by a writer meanwhile is read
 * again and re-wrapped.
 * @returns what was done
 */
export async function rewrapSealedItems(
  db: DynamoDBDocumentClient,
  table: string,
  sealer: EnvelopeSealer,
  onProgress: (p: RotationProgress) => void = () => undefined,
  /** Items read per Scan page (default: DynamoDB's 1 MB pages). */
  pageSize?: number,
): Promise<RotationProgress & { resumed: boolean }> {
  const saved = (await db.send(new GetCommand({ TableName: table, Key: CHECKPOINT, ConsistentRead: true }))).Item;
  let start = saved?.last_key as Item | undefined;
  const progress: RotationProgress = { done: Number(saved?.done ?? 0), rewrapped: Number(saved?.rewrapped ?? 0) };
  const resumed = Boolean(saved);
  // Many values share a data key: each is re-wrapped once per run.
  const rewrapped = new Map<string, Promise<SealedValue | undefined>>();
  const rewrapValue = (v: SealedValue) => {
    let p = rewrapped.get(v.dk);
    if (!p) rewrapped.set(v.dk, (p = sealer.rewrapValue(v)));
    return p.then((r) => (r ? { ...v, dk: r.dk } : undefined));
  };
  const rewrapContent = async (content: StoredContent | undefined): Promise<StoredContent | undefined> => {
    if (!content) return undefined;
    let changed = false;
    const out: Record<string, unknown> = { ...content };
    for (const [k, v] of Object.entries(content)) {
      if (!isSealed(v)) continue;
      const next = await rewrapValue(v);
      if (next) {
        out[k] = next;
        changed = true;
      }
    }
    return changed ? (out as unknown as StoredContent) : undefined;
  };
  do {
    const out = await db.send(new ScanCommand({ TableName: table, ...RECORD_ITEMS, ExclusiveStartKey: start, ConsistentRead: true, Limit: pageSize }));
    for (let item of out.Items ?? []) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const content = await rewrapContent(parse(item.content));
        const approved = await rewrapContent(parse(item.approved));
        if (!content && !approved) break;
        const changes: Item = {};
        if (content) changes.content = JSON.stringify(content);
        if (approved) changes.approved = JSON.stringify(approved);
        if (await rewrite(db, table, item, changes)) {
          progress.rewrapped++;
          break;
        }
        const fresh = (await db.send(new GetCommand({ TableName: table, Key: { pk: item.pk, sk: item.sk }, ConsistentRead: true }))).Item;
        if (!fresh) break;
        item = fresh;
      }
      progress.done++;
    }
    start = out.LastEvaluatedKey;
    if (start) await db.send(new PutCommand({ TableName: table, Item: { ...CHECKPOINT, last_key: start, done: progress.done, rewrapped: progress.rewrapped } }));
    onProgress(progress);
  } while (start);
  await db.send(new DeleteCommand({ TableName: table, Key: CHECKPOINT }));
  return { ...progress, resumed };
}

/**
 * Seals the contents written before sealing existed: restricted objects and withheld names in plain
 * text in heads and revisions, and re-keys their bare SHA-256 content hashes. Each value is sealed for
 * its own revision and each hash becomes the keyed one, so the "unchanged" check keeps holding for
 * records stored before.
 * Idempotent: sealed items are left as they are.
 * @returns how many items were rewritten
 */
export async function sealPlainItems(db: DynamoDBDocumentClient, table: string, sealer: EnvelopeSealer): Promise<number> {
  let start: Item | undefined;
  let sealedItems = 0;
  do {
    const out = await db.send(new ScanCommand({ TableName: table, ...RECORD_ITEMS, ExclusiveStartKey: start, ConsistentRead: true }));
    for (const item of out.Items ?? []) {
      const kind = item.kind as RecordKind;
      const id = item.id as string;
      const content = parse(item.content);
      const approved = parse(item.approved);
      const plain = (c: StoredContent | undefined) => c !== undefined && hasPlainSecrets(kind, c as unknown as Record<string, unknown>);
      if (!content) continue;
      // A bare SHA-256 of a content that is all in plain text: written before hashes were keyed.
      const bareHash = !Object.values(content).some(isSealed) && item.content_sha256 === sha256Hex(canonicalJson(content));
      if (!bareHash && !plain(content) && !plain(approved)) continue;
      const changes: Item = {};
      if (bareHash) changes.content_sha256 = await sealer.contentMac(content);
      if (plain(content)) changes.content = JSON.stringify(await sealer.seal({ id, kind, revision: item.revision as number }, content));
      if (plain(approved) && typeof item.approved_revision === 'number') {
        changes.approved = JSON.stringify(await sealer.seal({ id, kind, revision: item.approved_revision }, approved!));
      }
      // A head or revision changed meanwhile was written by the current code: sealed already.
      if (await rewrite(db, table, item, changes)) sealedItems++;
    }
    start = out.LastEvaluatedKey;
  } while (start);
  return sealedItems;
}

/** Whether a rotation was interrupted and left its position in the table. */
export async function rotationInProgress(db: DynamoDBDocumentClient, table: string): Promise<boolean> {
  return Boolean((await db.send(new GetCommand({ TableName: table, Key: CHECKPOINT, ConsistentRead: true }))).Item);
}
