// The adapters of every port: the table's (storage/store-adapters.ts), the public bucket's and DuckDB's.
import { S3Client } from '@aws-sdk/client-s3';
import type { ObjectStore, ReleaseBuilder } from '../pipeline/ports.ts';
import { DuckDbReleaseBuilder } from './duckdb-release-builder.ts';
import { DynamoDbChangeLog } from './dynamodb-change-log.ts';
import { DynamoDbLeaseStore } from './dynamodb-lease-store.ts';
import { DynamoDbRecordStore } from './dynamodb-record-store.ts';
import { DynamoDbReleaseStateStore } from './dynamodb-release-state.ts';
import { documentClient } from './dynamodb-table.ts';
import { S3ObjectStore } from './s3-object-store.ts';
import { CLIENT_TIMEOUTS, PUBLISHER_TIMEOUTS, createStoreAdapters, dynamodbClient, retriesButNotTimeouts, type AdapterSettings, type ClientTimeouts, type StoreAdapters } from './store-adapters.ts';

export { CLIENT_TIMEOUTS, MAX_BACKOFF_MS, PUBLISHER_TIMEOUTS, retriesButNotTimeouts, type AdapterSettings, type ClientTimeouts } from './store-adapters.ts';

/** Every port the use cases need, wired to one table and one bucket. */
export interface Adapters extends StoreAdapters {
  objects: ObjectStore;
  openReleaseBuilder: (opts: { tempDirectory: string }) => Promise<ReleaseBuilder>;
  /** The stores again, through clients with the publisher's timeouts ({@link forPublishing}). */
  publisherStores: () => PublisherStores;
  s3: S3Client;
}

/** The stores a publish works on: the same table and bucket as {@link createAdapters}'s, through clients with {@link PUBLISHER_TIMEOUTS}. */
export type PublisherStores = Pick<Adapters, 'records' | 'changes' | 'releases' | 'leases' | 'objects'>;

/** What the publisher runs on: `adapters` with its stores reached through the publisher's clients (made once, on first use). */
export function forPublishing<T extends Adapters>(adapters: T): T {
  return { ...adapters, ...adapters.publisherStores() };
}

/** The one place where an entry point's adapters are chosen (the API functions that never touch the bucket: {@link createStoreAdapters}). */
export function createAdapters(settings: AdapterSettings): Adapters {
  const store = createStoreAdapters(settings);
  const s3 = s3Client(settings, { ...CLIENT_TIMEOUTS, ...settings.timeouts });
  let publisher: PublisherStores | undefined;
  return {
    ...store,
    objects: new S3ObjectStore(s3, settings.bucketName),
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
    s3,
  };
}

/** An S3 client bounded by `t` (see {@link ClientTimeouts}), pointed where the settings say. */
function s3Client(settings: AdapterSettings, t: ClientTimeouts): S3Client {
  // WHEN_REQUIRED: no aws-chunked streaming uploads (the local S3 server would store their framing).
  // An idle-socket bound, not a whole-request one: a release's multipart upload may take minutes.
  return new S3Client({
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: t.maxAttempts,
    retryStrategy: retriesButNotTimeouts(t.maxAttempts),
    requestHandler: { connectionTimeout: t.connectionMs, socketTimeout: t.s3SocketIdleMs },
    ...(settings.s3 ?? {}),
  });
}
