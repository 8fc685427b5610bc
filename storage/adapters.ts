// The adapters of every port: the table's (storage/store-adapters.ts), the public bucket's (storage/bucket-adapters.ts)
// and DuckDB's.
import type { ReleaseBuilder } from '../pipeline/ports.ts';
import { createBucketAdapters, s3Client, type BucketAdapters } from './bucket-adapters.ts';
import { DuckDbReleaseBuilder } from './duckdb-release-builder.ts';
import { DynamoDbChangeLog } from './dynamodb-change-log.ts';
import { DynamoDbLeaseStore } from './dynamodb-lease-store.ts';
import { DynamoDbRecordStore } from './dynamodb-record-store.ts';
import { DynamoDbReleaseStateStore } from './dynamodb-release-state.ts';
import { documentClient } from './dynamodb-table.ts';
import { S3ObjectStore } from './s3-object-store.ts';
import { PUBLISHER_TIMEOUTS, dynamodbClient, type AdapterSettings } from './store-adapters.ts';

export { CLIENT_TIMEOUTS, MAX_BACKOFF_MS, PUBLISHER_TIMEOUTS, retriesButNotTimeouts, type AdapterSettings, type ClientTimeouts } from './store-adapters.ts';

/** Every port the use cases need, wired to one table and one bucket. */
export interface Adapters extends BucketAdapters {
  openReleaseBuilder: (opts: { tempDirectory: string }) => Promise<ReleaseBuilder>;
  /** The stores again, through clients with the publisher's timeouts ({@link forPublishing}). */
  publisherStores: () => PublisherStores;
}

/** The stores a publish works on: the same table and bucket as {@link createAdapters}'s, through clients with {@link PUBLISHER_TIMEOUTS}. */
export type PublisherStores = Pick<Adapters, 'records' | 'changes' | 'releases' | 'leases' | 'objects'>;

/** What the publisher runs on: `adapters` with its stores reached through the publisher's clients (made once, on first use). */
export function forPublishing<T extends Adapters>(adapters: T): T {
  return { ...adapters, ...adapters.publisherStores() };
}

/** The one place where an entry point's adapters are chosen (the API functions that never touch the bucket: {@link createStoreAdapters}). */
export function createAdapters(settings: AdapterSettings): Adapters {
  let publisher: PublisherStores | undefined;
  return {
    ...createBucketAdapters(settings),
    // DuckDB spills into the publish's work folder (under /tmp on Lambda, the only writable place).
    // One thread: DuckDB's own threads would compete with the gzip compression of the NDJSON.
    openReleaseBuilder: (opts) => DuckDbReleaseBuilder.open({ tempDirectory: opts.tempDirectory, memoryLimit: settings.duckdbMemoryLimit, threads: 1 }),
    publisherStores: () => {
      if (!publisher) {
        const t = { ...PUBLISHER_TIMEOUTS, ...settings.publisherTimeouts };
        const pdb = documentClient(dynamodbClient(settings, t));
        publisher = {
          records: new DynamoDbRecordStore(pdb, settings.tableName),
          changes: new DynamoDbChangeLog(pdb, settings.tableName),
          releases: new DynamoDbReleaseStateStore(pdb, settings.tableName),
          leases: new DynamoDbLeaseStore(pdb, settings.tableName),
          objects: new S3ObjectStore(s3Client(settings, t), settings.bucketName),
        };
      }
      return publisher;
    },
  };
}
