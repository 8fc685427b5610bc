import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceNotFoundException, UpdateTableCommand, UpdateTimeToLiveCommand, type GlobalSecondaryIndexDescription } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';

/**
 * The one table's shape, shared by the CDK stack and the local stack.
 *
 * Key design (one table; every index the issues need, decided once):
 *
 * | item | pk | sk | index attributes |
 * |---|---|---|---|
 * | record head | `REC#<id>` | `HEAD` | `heads_pk` = `H#<shard>` + `id` (index `heads`); `queue_pk` = `Q#<status>#<kind>` + `queue_sk` (index `queue`) |
 * | revision | `REC#<id>` | `REV#<n, 10 digits>` | — |
 * | review/retract action | `REC#<id>` | `AUDIT#<at>#<nonce>` | — |
 * | submitter of a record | `REC#<id>` | `BY#<key id>` | `by_pk` = `BY#<key id>#<status>#<kind>` + `by_sk` (index `by_submitter`) |
 * | first release of a record an earlier release held back | `REC#<id>` | `PUBLISHED` | — |
 * | change mark | `CHG#<shard>` | `<ms, 15 digits>#<id>` | — (read by strongly consistent Query; `ttl`) |
 * | publish fence, one per mark shard | `PUBLISH#FENCE` | `FENCE#<shard>` | — |
 * | deferred record | `DEFERRED` | `<id>` | — |
 * | release state | `RELEASE#latest` | `RELEASE` | — |
 * | status of the last publish (GET /publish/status) | `PUBLISH#STATUS` | `STATUS` | — (the only item POST /publish may write in AWS) |
 * | committed release (one per release) | `RELEASE#history` | `<cut ms, 15 digits>#<version>` | — |
 * | API key / key id | `KEY#<hash>` / `KEYID#<id>` | `KEY` / `KEYID` | — |
 * | lease | `LEASE#<name>` | `LEASE` | — (`ttl`) |
 *
 * - `heads` (sparse: heads only, projection ALL) is what a full rebuild scans, so it never reads a
 *   revision, audit or key item, and what a listing by id queries (shard by shard, merged).
 * - `queue` (sparse: heads only) serves the review queue: `queue_pk` groups by review status (or
 *   `retracted`) and kind, `queue_sk` orders pending records by the time they started waiting and the
 *   others by id.
 * - `by_submitter` (sparse: one small item per record and key that submitted a revision of it) serves "the records
 *   this key submitted a revision of", by status and kind, in the queue's order (`by_sk` = the head's
 *   `queue_sk`): a contributor's own listing and the editors' `submitted_by` filter. The items are
 *   written in the head's transaction whenever the head's queue position changes (and when a key
 *   submits its first revision); readers re-read the heads they point at. A record has few submitters.
 * - Heads carry `key_design` ({@link KEY_DESIGN}); `reindexHeads()` brings older heads up to date.
 * - A record's first release is not written per record: the head keeps `first_public_at` (the time of
 *   its first change mark while publishable) and the first committed release whose cut is at or after
 *   it is the one (a Query of `RELEASE#history`, limit 1); only records a release held back get a
 *   `PUBLISHED` item, from the release that finally holds them.
 * Heads are spread over {@link HEAD_SHARDS} index partitions and marks over {@link MARK_SHARDS} table
 * partitions, so that no single partition takes every write.
 */
export const TABLE_SHAPE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'ttl',
  indexes: {
    heads: { name: 'heads', partitionKey: 'heads_pk', sortKey: 'id' },
    queue: { name: 'queue', partitionKey: 'queue_pk', sortKey: 'queue_sk' },
    // Index names take 3–255 characters.
    by: { name: 'by_submitter', partitionKey: 'by_pk', sortKey: 'by_sk' },
  },
} as const;

/** The key design a head was written with: 2 added the `by` items. Older heads are rewritten by reindexHeads(). */
export const KEY_DESIGN = 2;

export const HEAD_SHARDS = 16;
export const MARK_SHARDS = 8;

/** A stable small number from an id, for spreading items over partitions. */
export function shardOf(id: string, shards: number): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0) % shards;
}

const MS_DIGITS = 15;
export const padMs = (ms: number) => String(ms).padStart(MS_DIGITS, '0');

/** Item keys: every record lives under its own partition, beside its revisions and audit entries. */
export const keys = {
  head: (id: string) => ({ pk: `REC#${id}`, sk: 'HEAD' }),
  revision: (id: string, revision: number) => ({ pk: `REC#${id}`, sk: `REV#${String(revision).padStart(10, '0')}` }),
  audit: (id: string, at: string, nonce: string) => ({ pk: `REC#${id}`, sk: `AUDIT#${at}#${nonce}` }),
  published: (id: string) => ({ pk: `REC#${id}`, sk: 'PUBLISHED' }),
  submitter: (id: string, keyId: string) => ({ pk: `REC#${id}`, sk: `BY#${keyId}` }),
  mark: (id: string, at: number) => ({ pk: `CHG#${shardOf(id, MARK_SHARDS)}`, sk: `${padMs(at)}#${id}` }),
  markShard: (shard: number) => `CHG#${shard}`,
  /** The fence of the mark shard `id` falls in: a marking write checks only its own shard's fence. */
  fenceOf: (id: string) => ({ pk: 'PUBLISH#FENCE', sk: `FENCE#${shardOf(id, MARK_SHARDS)}` }),
  fence: (shard: number) => ({ pk: 'PUBLISH#FENCE', sk: `FENCE#${shard}` }),
  deferred: (id: string) => ({ pk: 'DEFERRED', sk: id }),
  releaseHistory: (cut: number, version: string) => ({ pk: 'RELEASE#history', sk: `${padMs(cut)}#${version}` }),
  releaseHistoryPk: 'RELEASE#history',
  apiKey: (sha256: string) => ({ pk: `KEY#${sha256}`, sk: 'KEY' }),
  apiKeyId: (keyId: string) => ({ pk: `KEYID#${keyId}`, sk: 'KEYID' }),
  lease: (name: string) => ({ pk: `LEASE#${name}`, sk: 'LEASE' }),
  publishStatus: { pk: 'PUBLISH#STATUS', sk: 'STATUS' },
};

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

const INDEX_DEFINITIONS = Object.values(TABLE_SHAPE.indexes).map((ix) => ({
  IndexName: ix.name,
  KeySchema: [
    { AttributeName: ix.partitionKey, KeyType: 'HASH' as const },
    { AttributeName: ix.sortKey, KeyType: 'RANGE' as const },
  ],
  Projection: { ProjectionType: 'ALL' as const },
}));

const ATTRIBUTES = [TABLE_SHAPE.partitionKey, TABLE_SHAPE.sortKey, ...Object.values(TABLE_SHAPE.indexes).flatMap((ix) => [ix.partitionKey, ix.sortKey])];
const attributeDefinitions = () => [...new Set(ATTRIBUTES)].map((name) => ({ AttributeName: name, AttributeType: 'S' as const }));

/**
 * Creates the table if it does not exist, and adds any index it lacks (a table made by an earlier
 * version); local stack and tests only: in AWS the CDK stack owns the table.
 * @returns the names of the indexes that were added to an existing table (they need a backfill)
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<string[]> {
  let existing: GlobalSecondaryIndexDescription[] | undefined;
  try {
    existing = (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table?.GlobalSecondaryIndexes ?? [];
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw err;
  }
  if (existing) {
    const missing = INDEX_DEFINITIONS.filter((d) => !existing!.some((e) => e.IndexName === d.IndexName));
    for (const index of missing) {
      await client.send(new UpdateTableCommand({ TableName: tableName, AttributeDefinitions: attributeDefinitions(), GlobalSecondaryIndexUpdates: [{ Create: index }] }));
    }
    return missing.map((m) => m.IndexName);
  }
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: attributeDefinitions(),
      KeySchema: [
        { AttributeName: TABLE_SHAPE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_SHAPE.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: INDEX_DEFINITIONS,
    }),
  );
  await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: TABLE_SHAPE.ttlAttribute, Enabled: true } }));
  return [];
}
