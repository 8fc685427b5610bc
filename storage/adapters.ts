import { tmpdir } from 'node:os';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Clock, KeyStore, LeaseStore, ObjectStore, ParquetWriter, RecordStore, ReleaseStateStore } from '../pipeline/ports.ts';
import { systemClock } from '../pipeline/ports.ts';
import { DuckDbParquetWriter } from './duckdb-parquet-writer.ts';
import { DynamoDbKeyStore } from './dynamodb-key-store.ts';
import { DynamoDbLeaseStore } from './dynamodb-lease-store.ts';
import { DynamoDbRecordStore } from './dynamodb-record-store.ts';
import { DynamoDbReleaseStateStore } from './dynamodb-release-state.ts';
import { documentClient } from './dynamodb-table.ts';
import { S3ObjectStore } from './s3-object-store.ts';

/** Where the adapters point: AWS by default, the local servers when endpoints are given. */
export interface AdapterSettings {
  tableName: string;
  bucketName: string;
  dynamodb?: DynamoDBClientConfig;
  s3?: S3ClientConfig;
}

/** Every port the use cases need, wired to one table and one bucket. */
export interface Adapters {
  records: RecordStore;
  keys: KeyStore;
  leases: LeaseStore;
  releases: ReleaseStateStore;
  objects: ObjectStore;
  clock: Clock;
  openParquetWriter: () => Promise<ParquetWriter>;
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
  return {
    records: new DynamoDbRecordStore(db, settings.tableName),
    keys: new DynamoDbKeyStore(db, settings.tableName),
    leases: new DynamoDbLeaseStore(db, settings.tableName),
    releases: new DynamoDbReleaseStateStore(db, settings.tableName),
    objects: new S3ObjectStore(s3, settings.bucketName),
    clock: systemClock,
    // DuckDB spills to the OS temp dir: on Lambda the only writable place is /tmp.
    openParquetWriter: () => DuckDbParquetWriter.open({ tempDirectory: tmpdir() }),
    dynamodb,
    s3,
    settings,
  };
}
