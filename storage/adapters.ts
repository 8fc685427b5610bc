import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { ChangeLog, Clock, KeyStore, LeaseStore, ObjectStore, RecordListing, RecordStore, ReleaseBuilder, ReleaseStateStore } from '../pipeline/ports.ts';
import { systemClock } from '../pipeline/ports.ts';
import { EnvelopeSealer, type KeyEncryptionKeys } from '../pipeline/sealing.ts';
import { DuckDbReleaseBuilder } from './duckdb-release-builder.ts';
import { DynamoDbChangeLog } from './dynamodb-change-log.ts';
import { DynamoDbKeyStore } from './dynamodb-key-store.ts';
import { DynamoDbLeaseStore } from './dynamodb-lease-store.ts';
import { DynamoDbRecordStore } from './dynamodb-record-store.ts';
import { DynamoDbReleaseStateStore } from './dynamodb-release-state.ts';
import { documentClient } from './dynamodb-table.ts';
import { ephemeralKeyring } from './kek-local.ts';
import { S3ObjectStore } from './s3-object-store.ts';

/** Where the adapters point: AWS by default, the local servers when endpoints are given. */
export interface AdapterSettings {
  tableName: string;
  bucketName: string;
  dynamodb?: DynamoDBClientConfig;
  s3?: S3ClientConfig;
  /** DuckDB's memory_limit while building a release (default 1GB); it spills to disk beyond it. */
  duckdbMemoryLimit?: string;
  /**
   * The deployment's key-encryption keys (KMS in AWS, the local master keys on one machine). Absent: a
   * key that lives as long as the process, for tests and benchmarks only.
   */
  keyring?: KeyEncryptionKeys;
}

/** Every port the use cases need, wired to one table and one bucket. */
export interface Adapters {
  records: RecordStore;
  /** The listing behind GET /records (the same store, through its indexes). */
  listing: RecordListing;
  keys: KeyStore;
  leases: LeaseStore;
  releases: ReleaseStateStore;
  objects: ObjectStore;
  clock: Clock;
  changes: ChangeLog;
  /** Seals restricted values and withheld names, opens them for the views that show them, keys the hashes beside them. */
  sealer: EnvelopeSealer;
  openReleaseBuilder: (opts: { tempDirectory: string }) => Promise<ReleaseBuilder>;
  dynamodb: DynamoDBClient;
  s3: S3Client;
  settings: AdapterSettings;
}

/** The one place where an entry point's adapters are chosen. */
export function createAdapters(settings: AdapterSettings): Adapters {
  const dynamodb = new DynamoDBClient(settings.dynamodb ?? {});
  // WHEN_REQUIRED: no aws-chunked streaming uploads (the local S3 server would store their framing).
  const s3 = new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', ...(settings.s3 ?? {}) });
  const db = documentClient(dynamodb);
  const records = new DynamoDbRecordStore(db, settings.tableName);
  const sealer = new EnvelopeSealer(settings.keyring ?? ephemeralKeyring());
  return {
    records,
    listing: records,
    keys: new DynamoDbKeyStore(db, settings.tableName, (sha256) => sealer.apiKeyMac(sha256)),
    leases: new DynamoDbLeaseStore(db, settings.tableName),
    releases: new DynamoDbReleaseStateStore(db, settings.tableName),
    objects: new S3ObjectStore(s3, settings.bucketName),
    clock: systemClock,
    changes: new DynamoDbChangeLog(db, settings.tableName),
    sealer,
    // DuckDB spills into the publish's work folder (under /tmp on Lambda, the only writable place).
    // One thread: with two, DuckDB's sort of a 1 M-row events table ran out of its 1 GB (bench id 4/8).
    openReleaseBuilder: (opts) => DuckDbReleaseBuilder.open({ tempDirectory: opts.tempDirectory, memoryLimit: settings.duckdbMemoryLimit, threads: 1 }),
    dynamodb,
    s3,
    settings,
  };
}
